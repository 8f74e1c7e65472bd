"""How fast does bccrm read messages, compared with the standard library parsing them?

What is measured
    Over a generated corpus of mixed messages (plain and HTML replies with quoted history,
    Gmail and Outlook forwards, signatures with phones, Polish/German/French/Spanish text,
    quoted-printable and base64 bodies, attachments), in one run:

    * **baseline**: ``email.parser.BytesParser(policy=email.policy.default).parsebytes`` alone;
    * **bccrm**: ``gateway.parsing.analysis.analyze`` — the whole analysis the pipeline's parse
      stage runs (MIME, text, forwards, quotes, signature with phone numbers, flags).

    It prints messages per second of each, the ratio (target >= 0.25), and the per-message
    time of the analysis: median, p99 and maximum (target: no message over 50 ms). It reports
    and never asserts.

How to run (from the repository root)::

    .venv/bin/python bench/parse.py [--messages N] [--rounds N]
"""

from __future__ import annotations

import argparse
import base64
import random
import statistics
import time
from collections.abc import Callable
from email.parser import BytesParser
from email.policy import default

GREETINGS = ["Dzień dobry,", "Hi Jan,", "Guten Tag Herr Müller,", "Bonjour Madame,", "Hola Ana,"]
LINES = [
    "w załączeniu przesyłam ofertę na wdrożenie systemu.",
    "thanks for the quick call today, as agreed I am sending the pricing.",
    "anbei erhalten Sie unser Angebot für die Lieferung.",
    "veuillez trouver ci-joint notre proposition commerciale.",
    "le envío el presupuesto solicitado para el proyecto.",
]
SIGNATURES = [
    "Pozdrawiam\n\nAnna Kowalska\nKierownik Działu Zakupów\nACME Sp. z o.o.\n"
    "tel. +48 601 234 567\nul. Marszałkowska 1, 00-001 Warszawa",
    "Best regards,\nJohn Smith | Head of Procurement\nHooli Inc.\nM: +1 (415) 555-0123",
    "Mit freundlichen Grüßen\n\nHans Weber\nGeschäftsführer\nGlobex GmbH\nTel.: +49 30 1234567",
    "Cordialement,\n\nMarie Dubois\nDirectrice commerciale\nInitech SAS\nTél : +33 1 23 45 67 89",
    "Saludos,\n\nCarlos García\nDirector de compras\nUmbrella S.L.\nMóvil: +34 612 345 678",
]
QUOTE = (
    "\n\nOn Mon, Nov 2, 2026 at 9:30 AM Jan Kowalski <jan@acme.pl> wrote:\n"
    + "> earlier message line\n" * 30
)
FORWARD = (
    "\n\n---------- Forwarded message ---------\nFrom: Jan Kowalski <jan@acme.pl>\n"
    "Date: Mon, Nov 2, 2026 at 9:30 AM\nSubject: Zapytanie\nTo: Anna <anna@example.com>"
    "\n\n"
)


def make_message(rng: random.Random, n: int) -> bytes:
    """One message; the mix of kinds is fixed by ``rng``."""
    lang = rng.randrange(len(GREETINGS))
    body = f"{GREETINGS[lang]}\n\n{LINES[lang]}\n{LINES[lang]}\n\n{SIGNATURES[lang]}"
    kind = rng.choice(["plain", "reply", "forward", "html", "b64", "attachment"])
    if kind == "reply":
        body += QUOTE
    elif kind == "forward":
        body = "FYI" + FORWARD + body
    headers = (
        f"From: Anna Nowak <anna@example.com>\r\nTo: Jan Kowalski <jan@acme.pl>\r\n"
        f"Subject: {'Fwd: ' if kind == 'forward' else ''}Oferta {n}\r\n"
        f"Date: Mon, 02 Nov 2026 09:30:00 +0000\r\nMessage-ID: <bench-{n}@example.com>\r\n"
        f"MIME-Version: 1.0\r\n"
    )
    crlf = body.replace("\n", "\r\n")
    if kind == "html":
        html = "".join(f"<p>{line}</p>" for line in body.split("\n"))
        return (headers + "Content-Type: text/html; charset=utf-8\r\n\r\n" + html).encode()
    if kind == "b64":
        encoded = base64.encodebytes(crlf.encode()).decode().replace("\n", "\r\n")
        return (
            headers + "Content-Type: text/plain; charset=utf-8\r\n"
            "Content-Transfer-Encoding: base64\r\n\r\n" + encoded
        ).encode()
    if kind == "attachment":
        blob = base64.encodebytes(rng.randbytes(20_000)).decode().replace("\n", "\r\n")
        return (
            headers + 'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n'
            "Content-Type: text/plain; charset=utf-8\r\n\r\n" + crlf + "\r\n--b\r\n"
            "Content-Type: application/pdf; name=oferta.pdf\r\n"
            "Content-Transfer-Encoding: base64\r\n\r\n" + blob + "--b--\r\n"
        ).encode()
    return (headers + "Content-Type: text/plain; charset=utf-8\r\n\r\n" + crlf).encode()


def timed(function: Callable[[bytes], object], corpus: list[bytes]) -> tuple[float, list[float]]:
    """(messages per second, per-message seconds)."""
    durations = []
    started = time.perf_counter()
    for raw in corpus:
        t0 = time.perf_counter()
        function(raw)
        durations.append(time.perf_counter() - t0)
    return len(corpus) / (time.perf_counter() - started), durations


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)

    from gateway.parsing.analysis import analyze

    rng = random.Random(42)
    corpus = [make_message(rng, n) for n in range(args.messages)]
    stdlib = BytesParser(policy=default)

    def bccrm(raw: bytes) -> object:
        return analyze(raw, ("example.com",), "PL", ("log@crm.example.com",))

    timed(bccrm, corpus[:100])  # warm-up: imports, phone metadata, regex compilation
    base_rates, our_rates, samples = [], [], []
    for _ in range(args.rounds):
        base_rates.append(timed(stdlib.parsebytes, corpus)[0])
        rate, durations = timed(bccrm, corpus)
        our_rates.append(rate)
        samples.extend(durations)
    base, ours = statistics.median(base_rates), statistics.median(our_rates)
    samples.sort()
    p99 = samples[int(len(samples) * 0.99) - 1]
    print(f"{args.messages} messages x {args.rounds} rounds (medians)")
    print(f"stdlib BytesParser: {base:8.0f} msg/s")
    print(f"bccrm analysis:     {ours:8.0f} msg/s   ratio {ours / base:.2f} (target >= 0.25)")
    print(
        f"per message: median {statistics.median(samples) * 1000:.2f} ms, "
        f"p99 {p99 * 1000:.2f} ms, max {samples[-1] * 1000:.2f} ms (target: none over 50 ms)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
