"""The vocabulary of business signatures in Polish, English, German, French and Spanish.

Data only. Entries are written as people write them; the modules that use them fold both
sides (lower case, no diacritics, ``ł``→``l``, ``ß``→``ss``), so one entry serves "Grüße",
"Grüsse" and "GRÜSSE". Adding a word here is the whole change for a new closing or title.
"""

from __future__ import annotations

# Whole-line closings; a line may also be "closing, First Last" ("Thanks, Anna").
CLOSINGS = (
    # English
    "Best regards", "Kind regards", "Regards", "Warm regards", "Warmest regards",
    "Kindest regards", "Best wishes", "With best regards", "With kind regards", "Best",
    "All the best", "Cheers", "Many thanks", "Thanks", "Thank you", "Thanks again",
    "Thanks in advance", "Thanks and regards", "Thanks & regards", "Thanks and best regards",
    "Sincerely", "Yours sincerely", "Sincerely yours", "Yours faithfully", "Yours truly",
    "Respectfully", "BR", "Rgds", "Brgds", "Best rgds", "KR", "Thx", "Talk soon",
    "Have a nice day", "Have a great day",
    # Polish
    "Pozdrawiam", "Pozdrawiam serdecznie", "Serdecznie pozdrawiam", "Pozdrawiam ciepło",
    "Z poważaniem", "Z wyrazami szacunku", "Z wyrazami poważania", "Łączę pozdrowienia",
    "Łączę wyrazy szacunku", "Pozdrowienia", "Serdeczne pozdrowienia", "Z pozdrowieniami",
    "Pozdr", "Dziękuję", "Dziękuję i pozdrawiam", "Dzięki", "Dzięki i pozdrawiam",
    "Z góry dziękuję", "Serdecznie dziękuję", "Miłego dnia", "Uszanowanie",
    # German
    "Mit freundlichen Grüßen", "Mit freundlichem Gruß", "Freundliche Grüße", "Viele Grüße",
    "Beste Grüße", "Liebe Grüße", "Herzliche Grüße", "Schöne Grüße", "Mit besten Grüßen",
    "Mit herzlichen Grüßen", "Mit kollegialen Grüßen", "Besten Gruß", "Gruß", "Grüße", "MfG",
    "LG", "VG", "BG", "Danke", "Vielen Dank", "Besten Dank", "Herzlichen Dank",
    "Danke und viele Grüße", "Vielen Dank und viele Grüße", "Schönen Tag noch", "Bis bald",
    # French
    "Cordialement", "Bien cordialement", "Très cordialement", "Bien à vous", "Salutations",
    "Sincères salutations", "Meilleures salutations", "Salutations distinguées",
    "Bien sincèrement", "Sincèrement", "Amicalement", "Respectueusement", "Merci",
    "Merci beaucoup", "Merci d'avance", "Merci et bonne journée", "Bonne journée",
    "Belle journée", "Bonne soirée", "À bientôt", "Cdlt", "Bàv",
    # Spanish
    "Saludos", "Un saludo", "Saludos cordiales", "Un cordial saludo", "Un saludo cordial",
    "Reciba un cordial saludo", "Atentamente", "Muy atentamente", "Cordialmente", "Atte",
    "Gracias", "Muchas gracias", "Gracias de antemano", "Saludos y gracias", "Gracias y saludos",
    "Un abrazo", "Un fuerte abrazo", "Abrazos", "Quedo atento", "Quedo atenta",
)  # fmt: skip

# Closings that are also a complete message ("Thanks!"): a closing only below other text.
THANKS = (
    "Thanks", "Thank you", "Many thanks", "Thanks again", "Thanks in advance", "Thx",
    "Dziękuję", "Dzięki", "Z góry dziękuję", "Serdecznie dziękuję", "Danke", "Vielen Dank",
    "Besten Dank", "Herzlichen Dank", "Merci", "Merci beaucoup", "Merci d'avance", "Gracias",
    "Muchas gracias", "Gracias de antemano",
)  # fmt: skip

# Footers added by mail apps; patterns over folded text (see signature_lines.fold).
MOBILE_FOOTERS = (
    r"^sent (?:from|with|via|using) \S.{0,60}$",
    r"^get outlook for \S.{0,30}$",
    r"^wyslan[eoy] (?:z|ze|przy uzyciu|za pomoca) \S.{0,60}$",
    r"^pobierz (?:aplikacje )?outlook dla \S.{0,30}$",
    r"^von meine[mr] .{1,60} gesendet\W{0,2}$",
    r"^gesendet (?:von|mit|aus|via) \S.{0,60}$",
    r"^diese nachricht wurde von meine[mr] .{1,80}gesendet",
    r"^outlook fur \S{1,20} (?:herunterladen|beziehen)",
    r"^envoye (?:de|depuis|a partir de|avec|par|via) \S.{0,60}$",
    r"^(?:obtenir|telecharger) outlook pour \S.{0,30}$",
    r"^enviado (?:desde|con|de|a traves de|mediante) \S.{0,60}$",
    r"^(?:obtener|descargar|obten) outlook para \S.{0,30}$",
)

# Words of legal disclaimers, GDPR/RODO clauses and "think before you print" lines.
DISCLAIMER_WORDS = (
    "confidential", "intended recipient", "intended solely", "intended only", "in error",
    "privileged", "disclaimer", "unauthorised", "unauthorized", "prohibited", "personal data",
    "data protection", "gdpr", "privacy policy", "privacy notice", "before printing",
    "the environment", "viruses",
    "poufn", "adresat", "administratorem", "danych osobowych", "rodo", "przetwarzani",
    "zabronion", "omyłk", "wydruk", "środowisk", "klauzula",
    "vertraulich", "irrtümlich", "empfänger", "datenschutz", "dsgvo", "unbefugt", "ausdrucken",
    "umwelt", "rechtsverbindlich",
    "confidentiel", "destinataire", "données personnelles", "rgpd", "par erreur", "imprimer",
    "environnement", "interdite",
    "confidencial", "destinatario", "protección de datos", "datos personales", "lopd",
    "por error", "imprimir", "medio ambiente", "prohibida",
)  # fmt: skip

# How boilerplate disclaimers begin (a customer's own sentence seldom does).
DISCLAIMER_OPENERS = (
    "this e-mail and any", "this email and any", "this message and any",
    "this e-mail is confidential", "this email is confidential", "this message is confidential",
    "this e-mail may contain", "this email may contain", "this message may contain",
    "this e-mail (including", "this email (including", "this e-mail, including",
    "this email, including", "this communication", "the information contained in",
    "the information in this e-mail", "the information in this email", "confidentiality notice",
    "confidential:", "confidential -", "disclaimer", "important notice", "important:",
    "privileged", "please consider the environment", "think before you print",
    "ta wiadomość", "niniejsza wiadomość", "treść tej wiadomości", "wiadomość ta",
    "informacja zawarta", "informacje zawarte", "klauzula", "administratorem pani",
    "administratorem państwa", "administratorem danych", "administratorem twoich",
    "zgodnie z art", "przed wydrukowaniem", "zanim wydrukujesz", "pomyśl o środowisku",
    "diese e-mail", "diese email", "diese nachricht", "der inhalt dieser", "vertraulichkeit",
    "hinweis:", "datenschutzhinweis", "bitte denken sie", "bitte drucken",
    "ce message et", "ce message est", "ce message peut", "ce courriel", "ce mail et",
    "le présent message", "avertissement", "confidentialité", "avant d'imprimer",
    "merci de penser", "este mensaje y", "este mensaje es", "este mensaje se", "este mensaje va",
    "este mensaje contiene", "este mensaje puede", "este correo", "la información contenida",
    "aviso legal", "aviso de confidencialidad", "confidencialidad", "protección de datos",
    "antes de imprimir", "por favor, piense", "en cumplimiento",
)  # fmt: skip

# Company registry and bank footers: acronyms are matched case-sensitively, phrases folded.
REGISTRY_ACRONYMS = (
    "KRS", "NIP", "REGON", "BDO", "HRB", "HRA", "VAT", "USt-IdNr", "USt-ID", "USt.-IdNr",
    "UID", "SIRET", "SIREN", "RCS", "TVA", "CIF", "NIF", "IBAN", "BIC", "SWIFT", "EORI", "NAF",
    "APE", "St.-Nr", "Steuer-Nr", "Company No", "Reg. No",
)  # fmt: skip
REGISTRY_PHRASES = (
    "kapitał zakładowy", "sąd rejonowy", "wydział gospodarczy", "krajowego rejestru",
    "rejestru przedsiębiorców", "nr konta", "numer konta", "rachunek bankowy", "zarząd:",
    "handelsregister", "registergericht", "amtsgericht", "sitz der gesellschaft",
    "geschäftsführer:", "geschäftsführung:", "vorstand:", "aufsichtsrat", "steuernummer",
    "bankverbindung", "registered office", "registered in", "company registration",
    "company number", "registration number", "capital social", "au capital de",
    "registro mercantil", "inscrita en el", "n° tva",
)  # fmt: skip

# Legal forms, as regular expressions (longest first, so "GmbH & Co. KG" beats "GmbH").
LEGAL_FORMS = (
    r"(?i:sp\.\s?z\s?\.?\s?o\.\s?o\.?)", r"(?i:sp\.\s?k\.\s?a\.)", r"(?i:sp\.\s?[jkp]\.)",
    r"S\.K\.A\.", r"GmbH\s?&\s?Co\.\s?KGaA", r"GmbH\s?&\s?Co\.\s?KG", r"gGmbH", r"GmbH",
    r"mbH", r"KGaA", r"AG", r"KG", r"OHG", r"e\.\s?K\.", r"e\.\s?V\.",
    r"UG\s?\(haftungsbeschränkt\)", r"UG", r"S\.A\.S\.U\.", r"S\.A\.S\.", r"SASU", r"SAS",
    r"S\.A\.R\.L\.", r"SARL", r"S\.à\s?r\.\s?l\.", r"Sàrl", r"S\.\s?A\.", r"SA", r"S\.L\.U\.",
    r"SLU", r"S\.L\.", r"SL", r"S\.R\.L\.", r"SRL", r"Srl", r"S\.p\.A\.", r"SpA",
    r"Co\.,?\s?Ltd\.?", r"Ltd\.?", r"LTD\.?", r"Limited", r"LIMITED", r"LLC", r"L\.L\.C\.",
    r"LLP", r"Inc\.?", r"INC\.?", r"Corp\.?", r"Corporation", r"PLC", r"plc", r"B\.V\.", r"BV",
    r"N\.V\.", r"NV", r"Oyj", r"Oy", r"AB", r"A/S", r"ApS", r"s\.r\.o\.", r"a\.s\.", r"Kft\.",
)  # fmt: skip

# Job titles: whole words, and stems found inside words ("Einkaufsleiterin").
TITLE_WORDS = (
    "ceo", "cfo", "coo", "cto", "cio", "cmo", "cso", "cpo", "cro", "vp", "svp", "evp", "md",
    "gm", "pdg", "dg", "daf", "drh", "head", "chief", "lead", "manager", "director", "officer",
    "president", "founder", "co-founder", "cofounder", "owner", "partner", "associate",
    "assistant", "buyer", "purchaser", "secretary", "supervisor", "sales", "controller",
    "attorney", "lawyer", "counsel", "paralegal", "recruiter", "intern", "trainee", "executive",
    "representative", "administrator", "advisor", "adviser", "architect", "designer",
    "kierownik", "kierowniczka", "prezes", "wiceprezes", "członek", "zarządu", "prokurent",
    "księgowa", "księgowy", "handlowiec", "przedstawiciel", "przedstawicielka", "doradca",
    "opiekun", "opiekunka", "referent", "referentka", "sekretarka", "właściciel",
    "właścicielka", "wspólnik", "wspólniczka", "radca", "adwokat", "ds",
    "vorstand", "prokurist", "prokuristin", "inhaber", "inhaberin", "mitarbeiter",
    "mitarbeiterin", "kaufmann", "kauffrau", "rechtsanwalt", "rechtsanwältin", "einkäufer",
    "einkäuferin", "einkauf", "vertrieb", "verkauf", "buchhaltung", "disponent", "disponentin",
    "responsable", "chef", "chargé", "chargée", "gérant", "gérante", "comptable", "acheteur",
    "acheteuse", "conseiller", "conseillère", "attaché", "attachée", "délégué", "déléguée",
    "fondateur", "fondatrice", "associé", "associée", "juriste", "avocat", "avocate",
    "gerente", "jefe", "jefa", "técnico", "técnica", "administrativo", "administrativa",
    "contable", "asesor", "asesora", "consultor", "consultora", "consejero", "consejera",
    "delegado", "delegada", "socio", "socia", "fundador", "fundadora", "compras", "ventas",
    "departamento", "dpto", "abogado", "abogada",
)  # fmt: skip
TITLE_STEMS = (
    "leiter", "leitung", "führer", "manager", "menedżer", "director", "direktor", "directeur",
    "directrice", "dyrektor", "kierown", "specjalist", "specialist", "especialista",
    "koordynator", "coordinat", "koordinat", "asystent", "assistent", "officer", "engineer",
    "ingenieur", "ingenier", "inżynier", "consultant", "konsultant", "berater", "bearbeiter",
    "referent", "procurement", "purchasing", "marketing", "logisty", "logistic", "księgow",
    "presiden", "präsident", "accountant", "analyst", "developer", "zakup", "sprzedaż",
    "handlow", "comercial", "commercial", "account", "ejecutiv", "executive", "cuentas",
)  # fmt: skip

# Words that never appear in a personal name line: greetings, team and place words.
NON_NAME_WORDS = (
    "dear", "hi", "hello", "hey", "good", "morning", "afternoon", "evening", "hallo", "guten",
    "tag", "morgen", "abend", "servus", "moin", "witam", "witaj", "dzień", "dobry", "szanowni",
    "szanowny", "szanowna", "panie", "sehr", "geehrte", "geehrter", "liebe", "lieber",
    "bonjour", "bonsoir", "cher", "chère", "madame", "monsieur", "hola", "estimado",
    "estimada", "estimados", "buenos", "buenas", "días", "tardes", "noches", "regards", "grüße",
    "gruß", "pozdrawiam",
    "cordialement", "saludos", "team", "group", "grupa", "gruppe", "groupe", "grupo",
    "redakcja", "redaktion", "rédaction", "redacción", "editorial", "zespół", "équipe", "equipo",
    "office", "biuro", "büro", "service", "services", "serwis", "support", "customer", "care",
    "department", "dział", "abteilung", "info", "kontakt", "contact", "contacto", "solutions",
    "consulting", "systems", "international", "polska", "poland", "deutschland", "germany",
    "france", "españa", "spain", "europe", "company", "holding", "bank", "hotel", "shop",
    "studio", "agency", "agencja", "center", "centre", "centrum", "zentrale", "headquarters",
    "global", "digital", "technologies", "technology", "software", "logistics", "trading",
    "industries", "partners", "media", "invest", "capital", "energy", "university",
    "uniwersytet", "universität", "université", "universidad", "school", "szkoła", "akademia",
    "academy", "foundation", "fundacja", "stiftung", "fundación", "association",
    "stowarzyszenie", "verein", "asociación", "ministry", "ministerstwo", "urząd", "street",
    "straße", "ulica", "rue", "calle", "avenue", "aleja", "plac", "platz", "senior", "junior",
    "key", "project", "product", "board", "member", "mobile", "phone", "email", "mail",
    "wspólnicy", "partnerzy", "synowie", "söhne", "sohn", "fils", "hijos", "associates",
    "asociados", "associés", "kancelaria", "law", "firm",
)  # fmt: skip

# Academic and courtesy prefixes kept out of the name ("mgr inż. Anna Kowalska").
NAME_PREFIXES = (
    "dr", "prof", "hab", "mgr", "inż", "lic", "ing", "dipl", "dipl.-ing", "dipl.-kfm",
    "dipl.-inf", "dr.-ing", "dr.-ing.", "mag", "mr", "mrs", "ms", "miss", "mme", "mlle", "m",
    "herr", "frau", "sr", "sra", "srta", "d", "dña", "lcdo", "lcda", "arch", "ir",
    "drs", "dott", "ph.d", "univ.-prof", "h.c",
)  # fmt: skip
# Degrees written after the name ("Anna Kowalska, MBA").
NAME_SUFFIXES = (
    "mba", "phd", "ph.d", "msc", "m.sc", "bsc", "b.sc", "ma", "m.a", "ba", "b.a", "llm", "ll.m",
    "cpa", "acca", "cfa", "pmp", "esq", "dba", "meng", "m.eng", "mpa", "dipl.-ing", "dipl.-kfm",
)  # fmt: skip
NAME_PARTICLES = (
    "von", "van", "de", "der", "den", "da", "di", "del", "della", "la", "le", "du", "des", "y",
    "i", "zu", "dos", "das", "ten", "ter", "af", "al", "el", "bin", "ibn",
)  # fmt: skip

# Local parts of shared mailboxes: they say nothing about whose signature follows.
ROLE_MAILBOXES = (
    "info", "biuro", "office", "kontakt", "contact", "contacto", "sales", "sprzedaz",
    "support", "admin", "administrator", "hello", "hallo", "hola", "bonjour", "mail", "email",
    "noreply", "no-reply", "donotreply", "zamowienia", "orders", "order", "faktury", "invoice",
    "invoices", "billing", "buchhaltung", "accounting", "accounts", "ksiegowosc", "verkauf",
    "einkauf", "vertrieb", "service", "serwis", "team", "hr", "jobs", "kariera", "rekrutacja",
    "marketing", "ventas", "compras", "facturacion", "comercial", "commercial", "reception",
    "recepcja", "sekretariat", "empfang", "zentrale", "post", "poczta", "help", "helpdesk",
    "newsletter", "press", "prensa", "presse", "legal", "privacy", "dpo", "secretariat",
    "administracion", "direccion",
)  # fmt: skip

STREET_WORDS = (
    "ul", "ulica", "al", "aleja", "aleje", "pl", "plac", "os", "osiedle", "rue", "avenue", "av",
    "ave", "bd", "bld", "boulevard", "chemin", "allée", "place", "quai", "route", "impasse",
    "cours", "calle", "c", "avda", "avenida", "paseo", "plaza", "camino", "carrer", "ronda",
    "travesía", "street", "st", "road", "rd", "lane", "ln", "drive", "way", "suite", "square",
    "straße", "str", "weg", "platz", "gasse", "ring", "damm", "ufer", "chaussee", "allee",
)  # fmt: skip
# German street names are compounds: "Hauptstraße 5", "Lindenweg 3".
STREET_SUFFIXES = ("straße", "str", "weg", "allee", "platz", "gasse", "ring", "damm", "ufer")
COUNTRIES = (
    "Polska", "Poland", "Deutschland", "Germany", "France", "España", "Spain", "Österreich",
    "Austria", "Schweiz", "Suisse", "Switzerland", "United Kingdom", "UK", "USA",
    "United States", "Belgique", "Belgium", "Nederland", "Netherlands", "Italia", "Italy",
)  # fmt: skip

# Profiles are not a company's website (hosts and their subdomains).
SOCIAL_SITES = (
    "linkedin.com", "facebook.com", "fb.com", "twitter.com", "x.com", "instagram.com",
    "youtube.com", "youtu.be", "xing.com", "tiktok.com", "github.com", "calendly.com",
    "teams.microsoft.com", "zoom.us",
)  # fmt: skip
