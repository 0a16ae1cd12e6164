"""Vietnamese wording shared by voice and SMS: compose once, render as text or prompt ids.

    compose.py / notices.py   what to say: functions of a PublicView (or FullView), `today`
                              and the office, returning a Message, a tuple of parts
    parts.py                  Phrase(id), Number, DateValue, CodeDigits, FreeText, Punct;
                              dynamic_prompt_id(text) = "txt_<sha256[:16]>" for free text
    render.py                 to_text(message, catalog, accents=…)  -> SMS / console text
                              to_prompts(message, catalog, region=…) -> prompt ids to play
    numbers.py                Vietnamese number, date and digit words (north/south)
    fragments.py              those words as fragment prompt ids; how a code is read aloud
    gsm.py                    the GSM-7 alphabet: is_gsm7, gsm7_septets, fits_one_segment

The wording of every Phrase lives in the prompt catalog (prompts/catalog/*.toml):
`text` is the spoken script and default written form, `sms` an optional shorter
written form. Only full_answer() may name the applicant; everything built from a
PublicView is safe to say to whoever holds the dossier code.
Pure: no I/O, no clock, no asyncio.
"""
