"""SMPP over TLS: the link's own socket wrapped by ssl, against the test SMSC behind TLS.

TLS hands records to the reader whole or not at all, and decrypted bytes can wait in
the ssl object where select() does not see them: many PDUs at once (a window of
multipart submits, receipts, an incoming message) check that none is left waiting.
"""

from __future__ import annotations

import asyncio
import ssl
import subprocess
from pathlib import Path

from peers.smsc import TestSmsc
from sms.link import SmppLink
from sms.outbox import Outbox, migrate_file
from tests.peers.smsc import smpp_settings

STRANGER = "84987000111"


def server_context(tmp_path: Path) -> ssl.SSLContext:
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=smsc"],
        check=True, capture_output=True, timeout=30,
    )  # fmt: skip
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


async def test_a_window_of_multipart_messages_and_an_incoming_sms_over_tls(
    tmp_path: Path,
) -> None:
    database = tmp_path / "tls.sqlite3"
    await migrate_file(database)
    outbox = Outbox.open(database)
    texts = [f"Thong bao {i}. " + "Noi dung dai. " * 20 for i in range(20)]  # 2 parts each
    with outbox.transaction():
        for text in texts:
            outbox.enqueue(STRANGER, text, kind="test", accents=False, now=0.0)
    outbox.close()
    inbound: list[int] = []
    async with TestSmsc(tls=server_context(tmp_path)) as smsc:
        settings = smpp_settings(smsc.port, tls=True, tls_verify=False, window=10)
        link = SmppLink(settings, database, on_inbound=lambda: inbound.append(1))
        link.start()
        try:
            await smsc.wait_submits(40, timeout_s=60)
            status = await smsc.deliver(STRANGER, "HS 000.00.18.H26-241129-0001")
            async with asyncio.timeout(60):
                while link.receipts < 40:
                    await asyncio.sleep(0.02)
        finally:
            await asyncio.to_thread(link.stop, 10.0)
    assert status == 0
    assert inbound
    assert smsc.record.texts_to(STRANGER) == texts
    assert smsc.record.unbinds_received == 1  # a clean unbind, over TLS too
