"""What a message in ordinary words asks for, when it holds no dossier code.

People do not text keywords: they write "không nhận tin nữa", "Dừng nhắn tin
cho tôi", "HUY DK", "thôi gửi tin", "Đăng ký nhận tin lại", "tra cứu hồ sơ như
thế nào", "Cho hỏi thủ tục đăng ký kết hôn cần giấy tờ gì". This module reads
such a text as one intent:

- STOP: no more reminders (opt-out);      - START: reminders again (opt-in);
- GUIDANCE: a question about a procedure's papers, fee or time;
- HOW_TO: how to look a dossier up, where the code is (help);
- NO_CODE: a question about "my dossier" without its code;
- None: none of these (the caller says "not understood").

Words are compared folded: upper case, no diacritics (đ as D), and with what
an unconverted Vietnamese keyboard leaves behind removed: Telex ("khoong
nhaajn tin nuwax") and VNI ("kho6ng nha65n tin nu74a"). Common abbreviations
(ko, k, dk, nt, tn, tb, sms) are expanded. A question that merely contains
"nhận" ("khi nào nhận kết quả", "tôi không nhận được tin") is not a refusal:
a refusal needs a stop word before a word for the messages themselves.

Pure: no I/O.
"""

from __future__ import annotations

import re
import unicodedata
from enum import Enum


class Intent(Enum):
    STOP = "stop"
    START = "start"
    GUIDANCE = "guidance"
    HOW_TO = "how_to"
    NO_CODE = "no_code"


def _word_set(words: str) -> frozenset[str]:
    return frozenset(words.split())


_TELEX_TONES = frozenset("SFRXJZ")
_VOWELS = frozenset("AEIOUYW")
_TELEX_PAIRS = (("DD", "D"), ("AA", "A"), ("EE", "E"), ("OO", "O"), ("AW", "A"), ("OW", "O"),
                ("UW", "U"), ("W", "U"))  # fmt: skip
# Abbreviations people text, folded -> what they stand for (folded words).
_ABBREVIATIONS = {
    "KO": "KHONG", "K": "KHONG", "KG": "KHONG", "KHG": "KHONG", "HK": "KHONG", "HOK": "KHONG",
    "HONG": "KHONG", "KHOG": "KHONG", "KOO": "KHONG", "HEM": "KHONG", "KHONGG": "KHONG",
    "DK": "DANG KY", "DKY": "DANG KY", "DANGKY": "DANG KY", "DKI": "DANG KY", "KI": "KY",
    "DANGKI": "DANG KY",
    "NT": "NHAN TIN", "NHANTIN": "NHAN TIN", "TN": "TIN NHAN", "TINNHAN": "TIN NHAN",
    "TB": "THONG BAO", "THONGBAO": "THONG BAO", "SMS": "TIN", "MSG": "TIN", "MESSAGE": "TIN",
    "MESSAGES": "TIN", "TUCHOI": "TU CHOI", "NX": "NUA", "DC": "DUOC", "DUOCJ": "DUOC",
    "HUYR": "HUY", "HUYS": "HUY", "TRACUU": "TRA CUU", "HOSO": "HO SO", "HS": "HO SO",
    "NTN": "NHU THE NAO", "LSAO": "LAM SAO", "TTUC": "THU TUC", "GTO": "GIAY TO",
    "GIAYTO": "GIAY TO", "THUTUC": "THU TUC", "UNSUB": "UNSUBSCRIBE", "NGUNGG": "NGUNG",
}  # fmt: skip
# Words an intent is made of: a typed word is read as Telex/VNI only to reach one of these.
_VOCABULARY = _word_set(
    "KHONG MUON CAN NHAN GUI TIN THONG BAO NHAC NHO DUNG NGUNG THOI HUY TAT TU CHOI CHAM DUT "
    "DANG KY BAT MO LAI TIEP TUC NUA DUOC CHUA CHO TOI MINH EM XIN VUI LONG GIUP NHE NHA "
    "HO SO KET QUA THU TUC GIAY TO GI NHUNG LE PHI BAO NHIEU LAU THOI GIAN TRA CUU MA O DAU "
    "NHU THE NAO LAM SAO CACH HUONG DAN BIET KHI NAO GIO XONG CO DICH VU VE CUA "
    "HOW WHERE WHAT CHECK DOSSIER STATUS HELP STOP START KIEU SOAN PHAP"
)


def fold_word(word: str) -> str:
    """One typed word, folded and read as Telex/VNI when that gives a known word."""
    decomposed = unicodedata.normalize("NFD", word)
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    folded = bare.replace("đ", "d").replace("Đ", "D").upper()
    if folded in _KNOWN:
        return folded
    readings = (_vni(folded), _telex(folded), _telex(_vni(folded)))
    for reading in readings:
        if reading in _KNOWN:
            return reading
    if _NOT_A_SYLLABLE.search(folded):
        # No Vietnamese syllable ends in a tone letter or holds a doubled vowel, DD, W
        # or a digit: an unconverted keyboard's word, of a procedure name perhaps.
        return readings[2]
    return folded


def _vni(word: str) -> str:
    """VNI leftovers: tone and vowel digits typed inside a word ("kho6ng", "d9a8ng")."""
    if not any(ch.isalpha() for ch in word) or not any(ch.isdigit() for ch in word):
        return word
    return "".join(ch for ch in word if not ch.isdigit())


def _telex(word: str) -> str:
    """Telex leftovers: tone letters after the first vowel, doubled or w-marked vowels."""
    first = next((i for i, ch in enumerate(word) if ch in _VOWELS), None)
    if first is None:
        return word.replace("DD", "D")  # "DDK": ĐK
    word = word[: first + 1] + "".join(ch for ch in word[first + 1 :] if ch not in _TELEX_TONES)
    for typed, letter in _TELEX_PAIRS:
        word = word.replace(typed, letter)
    return word


_NOT_A_SYLLABLE = re.compile(r"[AEIOUY][A-Z]*[SFRXJ]$|AA|EE|OO|DD|[AOU]W|[A-Z][0-9]|^[0-9]+[A-Z]")
_WORD = re.compile(r"[^\W_]+")


def words(text: str) -> list[str]:
    """The folded words of a text, abbreviations expanded."""
    out: list[str] = []
    for raw in _WORD.findall(unicodedata.normalize("NFKC", text)):
        folded = fold_word(raw)
        out += _ABBREVIATIONS.get(folded, folded).split()
    return out


# Courtesy and address words that change nothing about what is asked.
_COURTESY = _word_set(
    "XIN VUI LONG LAM ON GIUP CHO TOI MINH EM CHAU CON ANH CHI BAN AD ADMIN OI A AH NHE NHA "
    "DI NUA NHIEU CAM THANKS THANK PLEASE PLS PLZ ME VAY VOI DUM GIUM TUI TAO OK OKE"
)
_KNOWN = _VOCABULARY | _COURTESY | frozenset(_ABBREVIATIONS)
_STOP = r"(?:HUY|DUNG|NGUNG|THOI|TAT|STOP|TU CHOI|CHAM DUT|BO|CAT|CANCEL|END|QUIT)"
_SEND = r"(?:NHAN|GUI|NHAN TIN|SEND|BAN)"
_MSG = r"(?:TIN NHAN|TIN|THONG BAO|NHAC NHO|NHAC|DICH VU|QUANG CAO|SPAM)"
# "Tôi muốn / đề nghị / hãy / thôi ... dừng nhắn tin", then at most a few words more
# ("... cho số này", "... từ tổng đài"); "tôi muốn đăng ký nhận tin" likewise.
_ASKING = r"(?:(?:TOI|MUON|DE NGHI|YEU CAU|HAY|THOI|NEN|CAN) )*"
_OPT_OUT = (
    re.compile(
        rf"^{_ASKING}{_STOP}(?: CO)?(?: LAI)?(?:(?: {_SEND}| {_MSG}| DANG KY| LAI)+"
        r"(?: VE HO SO| HO SO)?(?: [A-Z0-9]+){0,4})?$"
    ),
    re.compile(rf"^(?:.* )?KHONG(?: MUON| CAN| CAN PHAI)? {_SEND}(?: {_MSG})+(?: .*)?$"),
    re.compile(rf"^(?:.* )?KHONG (?:MUON|CAN) {_MSG}(?: .*)?$"),
    re.compile(r"^(?:UNSUBSCRIBE|STOP ALL|OFF|NO MORE(?: .*)?)$"),
)
_START = r"(?:DANG KY|BAT|START|ON|MO|SUBSCRIBE|TIEP TUC|MUON|HUY (?:TU CHOI|STOP|DUNG|NGUNG))"
_OPT_IN = (
    re.compile(rf"^{_ASKING}{_START}(?: LAI)?(?: {_SEND}| {_MSG}| LAI)*$"),
    re.compile(rf"^{_SEND}(?: LAI)?(?: {_MSG})+(?: LAI)$"),
    re.compile(rf"^{_SEND} LAI(?: {_MSG})*$"),
    re.compile(rf"^(?:{_SEND} )?{_MSG} LAI$"),
)
# A complaint or a question about messages is not a refusal ("tôi không nhận ĐƯỢC tin",
# "sao CHƯA nhận tin", "KHI NÀO nhận kết quả").
_NOT_A_REFUSAL = re.compile(
    r"\b(?:DUOC|CHUA|SAO|KHI NAO|BAO GIO|LUC NAO|KET QUA|BAO LAU|MA HO SO|MA SO)\b"
)
_HOW_TO_PREFIX = re.compile(r"^(?:LAM SAO|LAM THE NAO|CACH) (?:DE )?")

_GUIDANCE = re.compile(
    r"\b(?:THU TUC|GIAY TO|CAN (?:NHUNG )?GI|CAN (?:MANG|CHUAN BI|NOP)|HO SO (?:GOM|CAN)"
    r"|LE PHI|PHI BAO NHIEU|BAO NHIEU TIEN|MAT BAO LAU|BAO LAU THI|THOI GIAN GIAI QUYET"
    r"|GOM(?: NHUNG)? GI)\b"
)
_HOW_TO = re.compile(
    r"\b(?:NHU THE NAO|THE NAO|NHU NAO|LAM SAO|LAM THE NAO|O DAU|LA GI|CACH|HUONG DAN|KHONG BIET"
    r"|KIEU GI|RA SAO|BANG CACH NAO|HOW|WHERE|WHAT|HELP|TRO GIUP)\b"
)
_ABOUT_LOOKUP = re.compile(
    r"\b(?:TRA CUU|HO SO|MA|MA SO|KET QUA|GIAY HEN|CODE|CHECK|DOSSIER|STATUS|LOOK UP)\b"
)
_DOSSIER = r"\b(?:HO SO|KET QUA|GIAY HEN)\b"
_DOSSIER_QUESTION = re.compile(
    rf"{_DOSSIER}.*\b(?:KHI NAO|BAO GIO|LUC NAO|XONG|CHUA|DA CO|TINH TRANG|DEN DAU|THE NAO"
    rf"|RA SAO|NHU NAO)\b|\b(?:KHI NAO|BAO GIO|LUC NAO|(?:CHUA|KHONG) NHAN DUOC|TINH TRANG"
    rf"|TIEN DO)\b.*{_DOSSIER}"
)
# A keyword or the template alone ("tra cứu", "HS <mã hồ sơ> gửi 8088"), however typed.
_LOOKUP_WORDS = re.compile(r"(?:SOAN(?: TIN)? )?(?:TRA CUU|MA)?(?: ?(?:HO SO|MA SO|MA))*")
_TO_SHORT_CODE = re.compile(r"(?: (?:GUI|DEN|TOI)(?: SO| TONG DAI)?| TONG DAI)? [0-9]{3,6}$")
_ASKS_HOW = re.compile(r"(?:LAM (?:THE NAO|SAO)|CACH(?: NAO)?|HUONG DAN|BANG CACH NAO) ")
_HOW_TO_LOOK_UP = re.compile(r"\b(?:TRA CUU|MA HO SO|MA SO|MA|SOAN TIN|SOAN|NHAN TIN|CU PHAP)\b")
MAX_WORDS = 30  # a longer text is a letter, not a command


def intent(text: str) -> Intent | None:
    """The intent of a text without a dossier code, or None."""
    folded = words(text)
    if not folded or len(folded) > MAX_WORDS:
        return None
    # The short code copied from the instructions: "TU CHOI gui 8088", "DK 8088".
    whole = _TO_SHORT_CODE.sub("", " ".join(folded))
    # "làm sao để không nhận tin nữa": they want it, so it is a refusal too.
    wish = " ".join(w for w in _HOW_TO_PREFIX.sub("", whole).split() if w not in _COURTESY)
    if not _NOT_A_REFUSAL.search(wish):
        if any(p.fullmatch(wish) for p in _OPT_OUT):
            return Intent.STOP
        if any(p.fullmatch(wish) for p in _OPT_IN):
            return Intent.START
    if _GUIDANCE.search(whole):
        return Intent.GUIDANCE
    if _LOOKUP_WORDS.fullmatch(whole):
        return Intent.NO_CODE  # "tra cứu" typed on a Telex keyboard: "tra cuwus"
    if _HOW_TO.search(whole) and (_HOW_TO_LOOK_UP.search(whole) or _ASKS_HOW.match(whole)):
        return Intent.HOW_TO
    if _DOSSIER_QUESTION.search(whole):
        return Intent.NO_CODE
    if _HOW_TO.search(whole) and (_ABOUT_LOOKUP.search(whole) or len(folded) <= 4):
        return Intent.HOW_TO
    return None
