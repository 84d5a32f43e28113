"""A fixed, hand-written corpus for the cross-backend query suite (``queries.py``).

One tenant (``t1``) with three mailboxes; every email is written out below, so the
expected results of each query can be worked out by reading this file. Conventions
that keep that readable: an email is read and not starred, 8,000 bytes, without
attachments, labels, lists or Delivered-To unless it says otherwise; its Message-ID
is ``<id>@mail.example.com``. ``to`` is To only: the search document's "to" text is
To + Cc + Bcc, as the indexer makes it. Times are UTC; ``NOW`` anchors
``older_than:`` and ``newer_than:``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from inboxhub.domain.models import SearchDocument

TENANT = "t1"
NOW = datetime(2025, 6, 15, 12, 0, tzinfo=UTC)
WORK, PERSONAL, ARCHIVE = "mb-work", "mb-personal", "mb-archive"
MAILBOXES = (WORK, PERSONAL, ARCHIVE)
# What in:<name> is given to resolve (search_query.resolve_mailboxes): casefolded names.
MAILBOX_IDS_BY_NAME = {"work": WORK, "personal": PERSONAL, "old archive": ARCHIVE}

ME = "Me <me@example.com>"
ALICE = "Alice Smith <alice@example.com>"
BOB = "Bob Jones <bob@example.org>"
CAROL = "Carol White <carol@corp.example.com>"
DAVE = "Dave Brown <dave@example.com>"
DEV_LIST = "dev@lists.example.org"
GITHUB = "GitHub <notifications@github.com>"
GITHUB_REPO = "inboxhub <inboxhub@noreply.github.com>"
VENDOR_BILLING = "Billing <billing@vendor.example.com>"
TANAKA = "田中太郎 <tanaka@example.jp>"


def at(
    year: int, month: int, day: int, hour: int = 9, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def mail(
    id: str,
    mailbox: str,
    when: datetime,
    subject: str,
    sender: str,
    to: Sequence[str] = (ME,),
    cc: Sequence[str] = (),
    bcc: Sequence[str] = (),
    body: str = "",
    files: Sequence[str] = (),
    size: int = 8_000,
    seen: bool = True,
    flagged: bool = False,
    labels: Sequence[str] = (),
    lists: Sequence[str] = (),
    delivered: Sequence[str] = (),
    message_id: str | None = None,
    unnamed_attachment: bool = False,
    tenant: str = TENANT,
) -> SearchDocument:
    """One email, as the indexer would describe it (services/indexer/handler.py)."""
    return SearchDocument(
        id=id,
        tenant_id=tenant,
        mailbox_id=mailbox,
        sort_date=when,
        subject=subject,
        from_text=sender,
        to_text=" ".join([*to, *cc, *bcc]),
        cc_text=" ".join(cc),
        bcc_text=" ".join(bcc),
        body=body,
        attachment_names=" ".join(files),
        has_attachments=bool(files) or unnamed_attachment,
        seen=seen,
        flagged=flagged,
        size=size,
        sender_domain=sender.rpartition("@")[2].rstrip(">").lower(),
        message_id=message_id or f"{id}@mail.example.com",
        labels=list(labels),
        list_ids=list(lists),
        delivered_to=list(delivered),
    )


W, P, A = WORK, PERSONAL, ARCHIVE

EMAILS: list[SearchDocument] = [
    # ------------------------------------------------------------ Work
    mail("budget-q3", W, at(2024, 9, 30), "Q3 budget review", ALICE, cc=[BOB],
         body="Please review the attached Q3 numbers before Friday. The quarterly report is final.",
         files=["Q3 report.pdf", "budget.xlsx"], size=2_400_000,
         labels=["INBOX", "Finance"], delivered=["me@example.com"]),
    mail("budget-q3-re", W, at(2024, 10, 1, 10), "Re: Q3 budget review", BOB, to=[ALICE],
         cc=[ME], body="Numbers look fine, but travel is over budget.",
         labels=["INBOX", "Finance"]),
    mail("budget-q3-fwd", W, at(2024, 10, 2, 8, 30), "Fwd: Q3 budget review", ME, to=[DAVE],
         body="FYI, see the report below.", files=["Q3 report.pdf"], size=2_500_000,
         labels=["Sent"]),
    mail("budget-2025", W, at(2025, 1, 15, 14), "Budget 2025 draft", ALICE, bcc=[CAROL],
         body="First draft of the 2025 budget, see report.xlsx.", files=["report.xlsx"],
         size=6_000_000, seen=False, flagged=True, labels=["INBOX", "Finance"]),
    mail("quarterly-report", W, at(2023, 12, 20), "Quarterly report", DAVE,
         body="The report for the quarter is attached.", files=["annual-report-2023.pdf"],
         size=900_000, labels=["INBOX"]),
    mail("report-quarterly", W, at(2023, 12, 21), "Report: quarterly numbers delayed", CAROL,
         body="Quarterly figures come next week."),
    mail("release-plan", W, at(2025, 6, 1), "[dev] Release 2.4 planning", CAROL, to=[DEV_LIST],
         body="Feature freeze is next Monday. Please triage the backlog.", seen=False,
         labels=["Lists/Dev"], lists=["dev.lists.example.org"], delivered=["me@example.com"]),
    mail("release-plan-re", W, at(2025, 6, 2, 11), "Re: [dev] Release 2.4 planning", BOB,
         to=[DEV_LIST], body="Can we move the freeze to Wednesday?", seen=False,
         labels=["Lists/Dev"], lists=["dev.lists.example.org"]),
    mail("release-notes", W, at(2025, 6, 12), "[dev] Release 2.4 notes", CAROL, to=[DEV_LIST],
         body="Draft release notes attached.", files=["release-notes-2.4.md"], size=12_000,
         labels=["Lists/Dev"], lists=["dev.lists.example.org"]),
    mail("security-advisory", W, at(2025, 3, 3), "Security advisory: update now",
         "Security Team <security@lists.example.org>", to=["announce@lists.example.org"],
         body="A critical vulnerability was fixed in 2.3.1.", flagged=True,
         lists=["announce.lists.example.org"]),
    mail("github-pr", W, at(2025, 6, 14, 16), "[inboxhub] Fix FTS5 query shape (#42)", GITHUB,
         to=[GITHUB_REPO], cc=[ME], body="alice requested your review on this pull request.",
         seen=False, labels=["GitHub"], lists=["inboxhub.example.github.com"]),
    mail("github-issue", W, at(2025, 6, 13, 7), "[inboxhub] Search returns duplicates (#43)",
         GITHUB, to=[GITHUB_REPO], cc=[ME], body="Steps to reproduce: search for budget twice.",
         flagged=True, labels=["GitHub"], lists=["inboxhub.example.github.com"]),
    mail("cc-bob", W, at(2024, 5, 6), "Offsite agenda", ALICE, to=[CAROL], cc=[BOB],
         body="Agenda for the offsite in Zürich."),
    mail("bcc-bob", W, at(2024, 5, 7), "Offsite costs", ALICE, to=[CAROL], bcc=[BOB],
         body="Confidential: what the offsite costs."),
    mail("to-bob", W, at(2024, 5, 8), "Offsite travel", ALICE, to=[BOB],
         body="Book your train to Zurich."),
    mail("jose-proposal", W, at(2023, 5, 5), "Propuesta de contrato",
         "José Álvarez <jose.alvarez@empresa.es>", body="Adjunto la propuesta revisada.",
         files=["propuesta.docx"], size=45_000, labels=["INBOX"]),
    mail("ana-meeting", W, at(2023, 5, 6), "Reunión del lunes",
         "Ana Álvarez <alvarez@empresa.es>", body="¿Nos vemos el lunes a las diez?"),
    mail("lukasz-invoice", W, at(2024, 2, 20), "Faktura nr 17/2024 (Łódź)",
         "Łukasz Wałęsa <lukasz.walesa@firma.pl>", body="W załączniku faktura za luty.",
         files=["faktura-17.pdf"], size=120_000, labels=["Finance"]),
    mail("strasser-route", W, at(2021, 7, 1), "Anfahrt zur Hauptstraße",
         "Ludwig Straßer <l.strasser@bahn.de>", body="Die Adresse ist Hauptstraße 5 in München."),
    mail("deadline-tomorrow", W, at(2025, 6, 11), "Deadline tomorrow", DAVE,
         body="Reminder: the contract renewal is due tomorrow.", seen=False, flagged=True),
    mail("contract-renewal", W, at(2025, 4, 10), "Contract renewal", "Legal <legal@example.com>",
         body="Please sign the renewal by May.", files=["contract.pdf", "annex.pdf"],
         size=5_800_000, labels=["INBOX"]),
    mail("scanned", W, at(2024, 11, 11), "Scanned document", DAVE, body="See attachment.",
         size=700_000, unnamed_attachment=True),
    mail("tiny", W, at(2022, 1, 5), "ok", BOB, body="ok", size=600),
    mail("lunch", W, at(2024, 3, 3), "Lunch?", BOB, body="Pizza at noon?",
         message_id="CAF=x+y_z@mail.gmail.com"),
    mail("jan-30", W, at(2024, 1, 30, 23, 59), "Month end close", CAROL,
         body="Closing the books tonight."),
    mail("jan-31", W, at(2024, 1, 31, 10), "Month end summary", CAROL, body="Books are closed."),
    mail("feb-1", W, at(2024, 2, 1, 8), "February kickoff", ALICE, body="New month, new goals."),
    mail("new-year", W, at(2023, 12, 31, 23, 30), "Happy new year", BOB,
         body="See you next year!"),
    mail("out-of-office", W, at(2025, 6, 8, 9), "Out of office: back on Monday", CAROL,
         body="I am away until Monday."),
    mail("standup", W, at(2025, 6, 15, 8), "Standup notes", DAVE, body="Blockers: none.",
         seen=False),
    mail("interviews", W, at(2025, 4, 20), "Interview schedule for Zoë",
         "Recruiting <jobs@example.com>", body="Interviews on Tuesday and Thursday."),
    mail("expense", W, at(2025, 3, 15), "Expense report March", BOB, body="Receipts attached.",
         files=["receipts-march.zip"], size=1_200_000),
    mail("expense-re", W, at(2025, 3, 16), "RE: Expense report March", ALICE, to=[BOB], cc=[ME],
         body="Approved."),
    mail("expense-fw", W, at(2025, 3, 17), "FW: Expense report March", BOB, to=[DAVE],
         body="FYI"),
    mail("db-migration", W, at(2024, 11, 20), "Database migration window", CAROL,
         body="The migration runs Saturday 02:00 to 04:00 UTC.", flagged=True, labels=["Ops"]),
    mail("db-outage", W, at(2024, 11, 23), "[ALERT] Database outage",
         "PagerDuty <alerts@pagerduty.example.com>", body="Primary database unreachable.",
         seen=False, labels=["Ops"]),
    mail("postmortem", W, at(2024, 11, 25), "Postmortem: database outage", CAROL,
         body="Root cause: disk full on the primary.", files=["postmortem.docx"], size=80_000,
         labels=["Ops"]),
    mail("pricing", W, at(2024, 6, 6), "Pricing for 2025", "Sales <sales@vendor.example.com>",
         body="Discount of 15% for early renewal.", files=["pricing-2025.pdf", "report.xlsx"],
         size=700_000),
    mail("final-numbers", W, at(2024, 6, 7), "Final numbers", DAVE, body="Numbers inside.",
         files=["Report Final.XLSX"], size=90_000),
    mail("q3-details", W, at(2024, 10, 5), "Q3 details", ALICE, body="Details by region.",
         files=["q3-report.xlsx"], size=300_000),
    mail("serendipity-body", W, at(2023, 8, 8), "Misc", BOB,
         body="The word serendipity appears only here."),
    mail("serendipity-file", W, at(2023, 8, 9), "Files", BOB, body="See the files.",
         files=["serendipity-notes.txt"], size=5_000),
    mail("kickoff", W, at(2023, 8, 10), "Kickoff meeting", CAROL, body="Agenda below."),
    mail("kickoff-notes", W, at(2023, 8, 11), "Notes", CAROL,
         body="Notes from the kickoff meeting."),
    mail("follow-up", W, at(2023, 10, 10), "Follow-up on e-mail policy", DAVE,
         body="Our e-mail policy changes on 2023-11-01."),
    mail("invoice-4471", W, at(2023, 10, 11), "Invoice #4471", VENDOR_BILLING,
         body="Amount due: 1,250.00 EUR", files=["invoice-4471.pdf"], size=40_000),
    mail("obrien", W, at(2023, 10, 12), "O'Brien's notes", "Seán O'Brien <sean.obrien@example.ie>",
         body="Here's what we discussed."),
    mail("docs-link", W, at(2023, 10, 13), "Link", BOB,
         body="See https://docs.example.com/search?q=budget for details."),
    mail("html-chars", W, at(2024, 9, 9), "<b>Bold</b> & more", BOB, body="5 < 6 & 7 > 3"),
    mail("sync-1", W, at(2025, 5, 5), "Weekly sync", ALICE, to=["Team <team@example.com>"],
         body="Agenda: hiring, roadmap.", labels=["INBOX"]),
    mail("sync-2", W, at(2025, 5, 12), "Re: Weekly sync", BOB, to=["Team <team@example.com>"],
         body="Roadmap slides are ready."),
    mail("sync-3", W, at(2025, 5, 19), "Re: Re: Weekly sync", CAROL,
         to=["Team <team@example.com>"], body="Hiring update next week.", seen=False),
    mail("sync-4", W, at(2025, 5, 26), "Re: Weekly sync", DAVE, to=["Team <team@example.com>"],
         body="Cancelled this week.", seen=False, flagged=True),
    mail("invoice-reminder", W, at(2025, 5, 15), "Reminder: invoice #4471 overdue",
         VENDOR_BILLING, body="Please pay invoice 4471.", seen=False, flagged=True),
    mail("surprise", W, at(2024, 9, 1), "Surprise party for Carol", ALICE,
         to=["Carol W. <carol@corp.example.com>"], bcc=[ME], body="Don't tell Carol!"),
    mail("team-photos", W, at(2024, 9, 2), "Team offsite photos", DAVE, to=[ALICE, BOB],
         cc=[CAROL, "Zoë Müller <zoe.mueller@hr.example.net>"], body="All the photos.",
         files=["offsite.zip"], size=26_000_000),
    mail("appointment", W, at(2024, 9, 3), "Appointment", BOB, to=[ALICE],
         cc=["Dr. Jane Doe <j.doe@clinic.example.org>"], body="Confirming Tuesday."),
    mail("two-deliveries", W, at(2024, 9, 4), "Forwarded to both", "Mailer <mailer@example.com>",
         body="Copy for both addresses.", delivered=["me@example.com", "me+work@example.com"]),
    # ------------------------------------------------------------ Personal
    mail("zoe-cv", P, at(2023, 3, 10), "Résumé — Zoë Müller",
         "Zoë Müller <zoe.mueller@hr.example.net>",
         body="Attached my CV for the naïve Bayes role.", files=["Zoë_Müller_CV.pdf"],
         size=350_000, labels=["INBOX"]),
    mail("soren-lecture", P, at(2022, 11, 5), "Forelæsning om angst",
         "Søren Kierkegaard <soren@philosophy.dk>", body="Vi ses i Aarhus på torsdag.",
         seen=False),
    mail("bjork-concert", P, at(2020, 12, 12), "Tónleikar í Reykjavík",
         "Björk Guðmundsdóttir <bjork@music.is>", body="Þakka þér fyrir!", flagged=True),
    mail("cafe", P, at(2025, 6, 10, 8), "Café demain ?", "François Dubois <f.dubois@banque.fr>",
         body="On se retrouve au café à 9h ; apporte l'œuvre complète.", seen=False),
    mail("nguyen-report", P, at(2025, 5, 30), "Báo cáo tháng 5",
         "Nguyễn Văn An <an.nguyen@example.vn>", body="Gửi anh báo cáo tháng năm."),
    mail("ivan-report", P, at(2024, 4, 1), "Отчёт за квартал", "Иван Петров <ivan@mail.ru>",
         body="Привет! Отправляю отчёт за квартал.", files=["отчёт.docx"], size=60_000),
    mail("tanaka-meeting", P, at(2024, 8, 8), "会議の資料", TANAKA,
         body="会議の資料を送ります。よろしくお願いします。", files=["資料.pdf"], size=210_000),
    mail("tanaka-abc", P, at(2024, 8, 9), "ＡＢＣ社との打ち合わせ", TANAKA,
         body="ＡＢＣ 社 meeting notes"),
    # Decomposed (NFD) accents, as some mailers send them: "Rémi", "Réunion à Genève".
    mail("remi-nfd", P, at(2024, 7, 7), "Re\u0301union a\u0300 Gene\u0300ve",
         "Re\u0301mi Fontaine <remi@fontaine.fr>", body="Rendez-vous a\u0300 l'e\u0301cole."),
    mail("greek", P, at(2023, 9, 9), "Καλημέρα", "Νίκος Παπαδόπουλος <nikos@example.gr>",
         body="Τα λέμε αύριο στην Αθήνα."),
    mail("newsletter", P, at(2025, 6, 9), "Your weekly digest",
         "Weekly Digest <digest@news.example.com>", to=["me+news@example.com"],
         body="Top stories this week: budget cuts, café culture, and more.", size=85_000,
         seen=False, labels=["Promotions"], lists=["digest.news.example.com"],
         delivered=["me+news@example.com"]),
    mail("bank-statement", P, at(2025, 1, 3), "Votre relevé de compte",
         "Banque Populaire <noreply@banque.fr>",
         body="Votre relevé de décembre 2024 est disponible.",
         files=["releve-2024-12.pdf"], size=300_000, labels=["Finance", "Bank"]),
    mail("team-dinner", P, at(2024, 6, 20), "Team dinner", BOB, to=["team@example.com"],
         body="Dinner on Friday at the Italian place.", delivered=["alias@example.com"]),
    mail("christmas", P, at(2024, 12, 25), "Christmas photos", "Mum <mum@family.example>",
         body="Here are the photos from Christmas!", files=["IMG_2041.JPG", "IMG_2042.JPG"],
         size=12_500_000, flagged=True, labels=["Family"]),
    mail("krakow-booking", P, at(2024, 7, 15), "Your booking in Kraków is confirmed",
         "Booking <noreply@booking.example.com>",
         body="Hotel Wawel, 3 nights, check-in 2024-08-01.", files=["booking-confirmation.pdf"],
         size=150_000, labels=["Travel_2024"]),
    mail("weekend", P, at(2025, 2, 2), "Weekend plans", ALICE, body="Hiking on Saturday?",
         labels=["Work"]),
    mail("shed", P, at(2024, 10, 10), "Garden shed project", DAVE, body="Plans for the shed.",
         labels=["My Projects"]),
    mail("old-friend", P, at(2019, 3, 3), "Long time no see",
         "Old Friend <friend@oldmail.example.net>", body="How have you been?", seen=False),
    mail("valentine", P, at(2025, 2, 14), "Happy Valentine's 💖",
         "Partner <partner@family.example>", body="🌹 for you"),
    mail("grosse", P, at(2021, 3, 3), "Größe der Dateien",
         "Jürgen Groß <juergen.gross@firma.de>", body="Die Größe ist zu groß."),
    mail("orsted", P, at(2022, 6, 6), "Din elregning", "Ørsted Energy <info@orsted.example.dk>",
         body="Betal venligst inden fredag. Hilsen Ørsted."),
    mail("istanbul", P, at(2023, 4, 4), "İstanbul toplantısı",
         "İbrahim Yılmaz <ibrahim@example.com.tr>", body="Toplantı İstanbul'da."),
    mail("ligatures", P, at(2022, 9, 9), "The ﬁnal ﬁle", BOB, body="ofﬁce ﬂoor plan"),
    mail("superscript", P, at(2022, 9, 10), "Area in m² and x³", BOB, body="Measured twice."),
    mail("lunch-today", P, at(2025, 6, 15, 10), "Lunch today", ALICE, body="Sushi at one?",
         seen=False),
    # ------------------------------------------------------------ Old Archive
    mail("pep-572", A, at(2019, 5, 5), "PEP 572 discussion", "Guido <guido@python.org>",
         to=["python-dev@python.org"], body="Assignment expressions are accepted.",
         lists=["python-dev.python.org"]),
    mail("budget-2020", A, at(2019, 11, 11), "Budget 2020 planning", ALICE,
         body="Initial budget numbers for 2020.", files=["budget-2020.xlsx"], size=95_000),
    mail("annual-2019", A, at(2020, 3, 15), "Annual report 2019", DAVE,
         body="The annual report is attached.", files=["annual-report-2019.pdf"],
         size=4_900_000),
    mail("bahnhofstrasse", A, at(2020, 8, 8), "Neue Adresse: Bahnhofstrasse 1",
         "Hans Meier <hans@example.de>", body="Wir sind umgezogen in die Bahnhofstrasse."),
    mail("prize", A, at(2021, 1, 1), "You have won!!!", "Prize <winner@lottery.example>",
         body="Claim your prize now.", seen=False, labels=["Spam"]),
    mail("old-contract-fwd", A, at(2022, 2, 2), "Fwd: Fwd: old contract", ME, to=[ALICE],
         body="Forwarding again.", files=["contract-2019.pdf"], size=400_000, labels=["Sent"]),
]  # fmt: skip

# Emails the caller must never see, whatever they type: another tenant's (in a
# mailbox with the same id) and one in a mailbox of t1 that is not searched.
UNSEEN: list[SearchDocument] = [
    mail("other-tenant", W, at(2025, 6, 14), "Budget Q3 report quarterly review", ALICE,
         cc=[BOB], bcc=[ME], body="budget zoe soren serendipity kickoff invoice report",
         files=["report.xlsx", "Q3 report.pdf"], size=9_000_000, seen=False, flagged=True,
         labels=["INBOX", "Finance"], lists=["dev.lists.example.org"],
         delivered=["me@example.com"], tenant="t2"),
    mail("hidden-mailbox", "mb-hidden", at(2025, 6, 14), "Budget in a hidden mailbox", ALICE,
         body="serendipity budget report", files=["report.xlsx"], seen=False, flagged=True,
         labels=["INBOX"]),
]  # fmt: skip

IDS = [e.id for e in EMAILS]
BY_ID = {e.id: e for e in EMAILS}
assert len(IDS) == len(set(IDS)), "ids are unique"
