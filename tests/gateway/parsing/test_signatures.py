"""Signatures of real-world business mail in Polish, English, German, French and Spanish:
where they start, what they say, and that hostile text costs bounded work and never raises."""

from __future__ import annotations

import re
from dataclasses import dataclass

import phonenumbers
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.parsing.message import Person
from gateway.parsing.signatures import Signature, parse_signature, split_signature

E164 = re.compile(r"^\+[1-9]\d{6,14}$")


def sig(
    name: str,
    title: str = "",
    company: str = "",
    phones: tuple[str, ...] = (),
    emails: tuple[str, ...] = (),
    website: str = "",
    address: str = "",
) -> Signature:
    return Signature(name, title, company, phones, emails, website, address)


@dataclass(frozen=True)
class Case:
    id: str
    text: str
    sender: Person | None
    region: str
    expected: Signature | None


CASES = [
    # ---------------------------------------------------------------- Polish
    Case(
        "pl-full-with-rodo-and-iphone",
        """Dzień dobry,

proszę o ofertę na 100 szt. do piątku.

Pozdrawiam,

mgr inż. Anna Kowalska
Kierownik ds. zakupów
ACME Sp. z o.o.
ul. Marszałkowska 1, 00-001 Warszawa
tel. +48 22 123 45 67 | kom. 601 234 567 | fax +48 22 123 45 68
anna.kowalska@acme.pl | www.acme.pl
NIP: 525-000-00-00, REGON: 146123456, KRS 0000123456

Administratorem Pani/Pana danych osobowych jest ACME Sp. z o.o. z siedzibą w Warszawie.
Dane przetwarzane są zgodnie z RODO. Więcej informacji: www.acme.pl/rodo

Wysłane z iPhone'a""",
        Person("anna.kowalska@acme.pl", "Anna Kowalska"),
        "PL",
        sig(
            "Anna Kowalska",
            "Kierownik ds. zakupów",
            "ACME Sp. z o.o.",
            ("+48221234567", "+48601234567"),
            ("anna.kowalska@acme.pl",),
            "www.acme.pl",
            "ul. Marszałkowska 1, 00-001 Warszawa",
        ),
    ),
    Case(
        "pl-z-powazaniem-spk-hyphen-phone",
        "Przesyłam fakturę w załączniku.\n\nZ poważaniem\nJan Nowak\nPrezes Zarządu\n"
        "Nowak i Wspólnicy Sp.k.\ntel.: 601-234-567\nj.nowak@nowak.com.pl",
        Person("j.nowak@nowak.com.pl", "Jan Nowak"),
        "PL",
        sig(
            "Jan Nowak",
            "Prezes Zarządu",
            "Nowak i Wspólnicy Sp.k.",
            ("+48601234567",),
            ("j.nowak@nowak.com.pl",),
        ),
    ),
    Case(
        "pl-name-dash-title-sa-international-prefixes",
        "Dziękuję za informację.\n\nPozdrawiam\n\nAnna Kowalska - Kierownik Działu Zakupów\n"
        "Globex S.A.\nT: +48 (22) 123 45 67\nM: 0048 601 234 567",
        Person("anna.kowalska@globex.pl", "Anna Kowalska"),
        "PL",
        sig(
            "Anna Kowalska",
            "Kierownik Działu Zakupów",
            "Globex S.A.",
            ("+48221234567", "+48601234567"),
        ),
    ),
    Case(
        "pl-diacritics-vs-ascii-display-name",
        "Potwierdzam termin dostawy.\n\nPozdrawiam serdecznie\n\nŁukasz Żółkiewski\n"
        "Specjalista ds. logistyki | Budimex SA\nkom. 601.234.567\nwww.budimex.pl",
        Person("lukasz.zolkiewski@budimex.pl", "Lukasz Zolkiewski"),
        "PL",
        sig(
            "Łukasz Żółkiewski",
            "Specjalista ds. logistyki",
            "Budimex SA",
            ("+48601234567",),
            website="www.budimex.pl",
        ),
    ),
    Case(
        "pl-hyphenated-surname-from-local-part-fax-excluded",
        "W załączniku cennik.\n\nSerdecznie pozdrawiam,\nKatarzyna Wiśniewska-Nowak\n"
        "Dyrektor Handlowy\nPolmex Sp. j.\ntel. kom. +48 501 222 333\nfaks +48 22 111 22 33\n"
        "ul. Długa 5/7\n80-001 Gdańsk",
        Person("katarzyna.wisniewska-nowak@polmex.pl"),
        "PL",
        sig(
            "Katarzyna Wiśniewska-Nowak",
            "Dyrektor Handlowy",
            "Polmex Sp. j.",
            ("+48501222333",),
            address="ul. Długa 5/7, 80-001 Gdańsk",
        ),
    ),
    Case(
        "pl-dr-prefix-no-legal-form",
        "Opinia prawna w załączniku.\n\nZ wyrazami szacunku\ndr Piotr Zieliński\nRadca prawny\n"
        "Kancelaria Zieliński i Partnerzy\n+48 22 628 00 00",
        Person("p.zielinski@kancelaria-zp.pl", "Piotr Zieliński"),
        "PL",
        sig("Piotr Zieliński", "Radca prawny", "", ("+48226280000",)),
    ),
    Case(
        "pl-standard-delimiter-one-line-signature-extension",
        "Proszę o kontakt.\n-- \nMarek Wójcik | Główny Księgowy | Alfa-Bud Sp. z o.o.\n"
        "tel. 22 123 45 67 wew. 123",
        Person("marek.wojcik@alfabud.pl", "Marek Wójcik"),
        "PL",
        sig("Marek Wójcik", "Główny Księgowy", "Alfa-Bud Sp. z o.o.", ("+48221234567",)),
    ),
    Case(
        "pl-reversed-display-name",
        "Zamówienie potwierdzone.\n\nPozdrawiam\nAgnieszka Lewandowska\nOpiekun klienta\n"
        "Lewpol sp. z o.o.\n+48 601 234 567",
        Person("alewandowska@lewpol.pl", "Lewandowska Agnieszka"),
        "PL",
        sig("Agnieszka Lewandowska", "Opiekun klienta", "Lewpol sp. z o.o.", ("+48601234567",)),
    ),
    Case(
        "pl-nip-regon-never-phones",
        "Dane do faktury poniżej.\n\nPozdrawiam\nTomasz Kamiński\nKamiński Trans Sp. z o.o.\n"
        "NIP: 525-000-00-00\nREGON: 146123456\nBDO 000123456\ntel. 58 123 45 67",
        Person("tomasz.kaminski@kaminskitrans.pl", "Tomasz Kamiński"),
        "PL",
        sig("Tomasz Kamiński", "", "Kamiński Trans Sp. z o.o.", ("+48581234567",)),
    ),
    Case(
        "pl-shared-mailbox-without-personal-name",
        "Dziękujemy za zamówienie.\n\nPozdrawiamy\nBiuro Obsługi Klienta\nACME Sp. z o.o.\n"
        "tel. 22 123 45 67",
        Person("biuro@acme.pl", "Biuro ACME"),
        "PL",
        None,
    ),
    # ---------------------------------------------------------------- English
    Case(
        "en-pipe-title-uk-fax-excluded",
        "Hi Tom,\n\nPlease see the attached PO.\n\nBest regards,\n\n"
        "John Smith | Head of Procurement\n"
        "Initech Ltd\nT: +44 20 7946 0958\nM: +44 7911 123456\nF: +44 20 7946 0959\n"
        "www.initech.co.uk",
        Person("john.smith@initech.co.uk", "John Smith"),
        "GB",
        sig(
            "John Smith",
            "Head of Procurement",
            "Initech Ltd",
            ("+442079460958", "+447911123456"),
            website="www.initech.co.uk",
        ),
    ),
    Case(
        "en-us-extension-dropped-apostrophe-name",
        "Looking forward to the demo.\n\nKind regards\nSarah O'Connor\nSenior Account Manager\n"
        "Globex Corporation\n+1 (415) 555-0123 ext. 12\nsarah.oconnor@globex.com\nhttps://globex.com",
        Person("sarah.oconnor@globex.com", "Sarah O'Connor"),
        "US",
        sig(
            "Sarah O'Connor",
            "Senior Account Manager",
            "Globex Corporation",
            ("+14155550123",),
            ("sarah.oconnor@globex.com",),
            "https://globex.com",
        ),
    ),
    Case(
        "en-name-comma-title-comma-legal-form",
        "Approved.\n\nThanks,\nJan Nowak, CFO\nAcme, Inc.\nOffice: 212-555-0147",
        Person("jnowak@acme.com", "Jan Nowak"),
        "US",
        sig("Jan Nowak", "CFO", "Acme, Inc.", ("+12125550147",)),
    ),
    Case(
        "en-signoff-then-delimited-signature",
        "Sounds good, see you Monday.\n\nCheers\nTom\n\n--\nTom Baker\nCTO, Hooli LLC\n"
        "Mobile: 415.555.0199",
        Person("tom@hooli.com", "Tom Baker"),
        "US",
        sig("Tom Baker", "CTO", "Hooli LLC", ("+14155550199",)),
    ),
    Case(
        "en-disclaimer-after-signature",
        "The revised quote is attached.\n\nRegards,\nPriya Patel\nProcurement Specialist\n"
        "Umbrella PLC\nDirect: +44 161 496 0000\n\n"
        "This e-mail and any attachments are confidential and intended solely for the addressee.\n"
        "If you have received this e-mail in error please notify the sender and delete it.\n"
        "Umbrella PLC, registered in England and Wales No. 01234567. Call us on 0161 496 0001.",
        Person("priya.patel@umbrella.co.uk", "Priya Patel"),
        "GB",
        sig("Priya Patel", "Procurement Specialist", "Umbrella PLC", ("+441614960000",)),
    ),
    Case(
        "en-no-closing-name-opens-signature",
        "Please find the invoice attached.\n\nEmily Clarke\n"
        "Operations Manager | Wayne Enterprises Inc.\nPhone: +1 212 555 0147",
        Person("emily.clarke@wayne.com", "Emily Clarke"),
        "US",
        sig("Emily Clarke", "Operations Manager", "Wayne Enterprises Inc.", ("+12125550147",)),
    ),
    Case(
        "en-third-party-signature-rejected",
        "Forwarding John's details below.\n\nBest regards,\nJohn Smith\nHead of Sales\n"
        "Initech Ltd\n+44 20 7946 0958",
        Person("anna.kowalska@acme.pl", "Anna Kowalska"),
        "GB",
        None,
    ),
    Case(
        "en-closing-and-name-on-one-line-uk-address",
        "Invoice attached.\n\nBest regards, Emily Clarke\nOperations Manager\n"
        "Wayne Enterprises Ltd\n1 Main Street\nLondon SW1A 1AA\nUnited Kingdom\n"
        "P: +44 20 7946 0000",
        Person("emily.clarke@wayne.co.uk", "Emily Clarke"),
        "GB",
        sig(
            "Emily Clarke",
            "Operations Manager",
            "Wayne Enterprises Ltd",
            ("+442079460000",),
            address="1 Main Street, London SW1A 1AA, United Kingdom",
        ),
    ),
    Case(
        "en-shared-mailbox-team-signature",
        "Your ticket has been updated.\n\nBest regards,\nCustomer Service Team\nInitech Ltd\n"
        "+44 20 7946 0958",
        Person("support@initech.co.uk", "Initech Support"),
        "GB",
        None,
    ),
    Case(
        "en-unknown-sender-name-like-line-accepted",
        "Let me know.\n\nRegards,\nDavid Miller\nPurchasing Manager\nStark Industries Inc.\n"
        "david@stark.example.com",
        None,
        "US",
        sig(
            "David Miller",
            "Purchasing Manager",
            "Stark Industries Inc.",
            emails=("david@stark.example.com",),
        ),
    ),
    Case(
        "en-linkedin-is-not-the-website-outlook-footer",
        "Noted.\n\nBest,\nMichael Chen\nBusiness Development Director\n"
        "https://www.linkedin.com/in/michaelchen\nhttps://www.cyberdyne.com\n\n"
        "Get Outlook for Android",
        Person("michael.chen@cyberdyne.com", "Michael Chen"),
        "US",
        sig("Michael Chen", "Business Development Director", website="https://www.cyberdyne.com"),
    ),
    # ---------------------------------------------------------------- German
    Case(
        "de-dr-prefix-gmbh-co-kg-imprint-footer",
        """Sehr geehrte Frau Kowalska,

anbei unser Angebot.

Mit freundlichen Grüßen

Dr. Hans Müller · Geschäftsführer
Müller GmbH & Co. KG
Hauptstraße 5, 10115 Berlin
Tel.: +49 (0)30 1234567
Fax: +49 (0)30 1234568
Mobil: 0171 1234567
hans.mueller@mueller-kg.de

Müller GmbH & Co. KG, Sitz der Gesellschaft: Berlin, Amtsgericht Charlottenburg HRB 12345
Geschäftsführer: Dr. Hans Müller
USt-IdNr.: DE 812 345 678""",
        Person("hans.mueller@mueller-kg.de", "Hans Müller"),
        "DE",
        sig(
            "Hans Müller",
            "Geschäftsführer",
            "Müller GmbH & Co. KG",
            ("+491711234567", "+49301234567"),
            ("hans.mueller@mueller-kg.de",),
            address="Hauptstraße 5, 10115 Berlin",
        ),
    ),
    Case(
        "de-viele-gruesse-compound-title-iphone",
        "Passt so.\n\nViele Grüße\nEva Schmidt\nEinkaufsleiterin\nSchmidt AG\n"
        "Handy: +49 171 2345678\n\nVon meinem iPhone gesendet",
        Person("eva.schmidt@schmidt-ag.de", "Eva Schmidt"),
        "DE",
        sig("Eva Schmidt", "Einkaufsleiterin", "Schmidt AG", ("+491712345678",)),
    ),
    Case(
        "de-beste-gruesse-ek-durchwahl",
        "Danke für die schnelle Antwort.\n\nBeste Grüße\nKlaus Weber\nVertrieb\nWeber e.K.\n"
        "Telefon: 089 12345678\nDurchwahl: 089 12345679",
        Person("k.weber@weber-ek.de", "Klaus Weber"),
        "DE",
        sig("Klaus Weber", "Vertrieb", "Weber e.K.", ("+498912345678", "+498912345679")),
    ),
    Case(
        "de-mfg-ug-haftungsbeschraenkt",
        "Termin bestätigt.\n\nMfG\nJürgen Becker\nInhaber\nBecker UG (haftungsbeschränkt)\n"
        "T: 040 1234567",
        Person("juergen.becker@becker-ug.de", "Jürgen Becker"),
        "DE",
        sig("Jürgen Becker", "Inhaber", "Becker UG (haftungsbeschränkt)", ("+49401234567",)),
    ),
    Case(
        "de-delimiter-disclaimer-glued-under-signature",
        "Bitte um Rückmeldung.\n-- \nSabine Hoffmann\nLeiterin Einkauf | Hoffmann KG\n"
        "Tel. 0221 123456\n"
        "Diese E-Mail enthält vertrauliche und/oder rechtlich geschützte Informationen. Wenn\n"
        "Sie nicht der richtige Adressat sind oder diese E-Mail irrtümlich erhalten haben,\n"
        "informieren Sie bitte sofort den Absender und vernichten Sie diese Mail.",
        Person("s.hoffmann@hoffmann-kg.de", "Sabine Hoffmann"),
        "DE",
        sig("Sabine Hoffmann", "Leiterin Einkauf", "Hoffmann KG", ("+49221123456",)),
    ),
    Case(
        "de-swiss-gruesse-and-strasse",
        "Freundliche Grüsse\nMarco Keller\nProjektleiter\nKeller AG\n"
        "Bahnhofstrasse 10, 8001 Zürich\n+41 44 123 45 67",
        Person("marco.keller@keller.ch", "Marco Keller"),
        "CH",
        sig(
            "Marco Keller",
            "Projektleiter",
            "Keller AG",
            ("+41441234567",),
            address="Bahnhofstrasse 10, 8001 Zürich",
        ),
    ),
    Case(
        "de-austrian-mag-prefix",
        "Anbei die Unterlagen.\n\nLiebe Grüße\nMag. Julia Gruber\nSteuerberaterin\n"
        "Gruber & Partner GmbH\n+43 1 234 56 78",
        Person("julia.gruber@gruber-partner.at", "Julia Gruber"),
        "AT",
        sig("Julia Gruber", "Steuerberaterin", "Gruber & Partner GmbH", ("+4312345678",)),
    ),
    Case(
        "de-bilingual-closing",
        "Anbei das Protokoll.\n\nMit freundlichen Grüßen / Best regards\n\nStefan Braun\n"
        "Key Account Manager\nBraun Logistik GmbH\nMobil +49 160 1234567",
        Person("stefan.braun@braun-logistik.de", "Stefan Braun"),
        "DE",
        sig("Stefan Braun", "Key Account Manager", "Braun Logistik GmbH", ("+491601234567",)),
    ),
    # ---------------------------------------------------------------- French
    Case(
        "fr-cordialement-sas-rue-portable",
        """Bonjour,

Veuillez trouver ci-joint notre devis.

Cordialement,

Marie Dubois
Directrice Commerciale
Globex SAS
12 rue de la Paix, 75002 Paris
Tél : +33 1 23 45 67 89
Portable : 06 12 34 56 78
marie.dubois@globex.fr""",
        Person("marie.dubois@globex.fr", "Marie Dubois"),
        "FR",
        sig(
            "Marie Dubois",
            "Directrice Commerciale",
            "Globex SAS",
            ("+33123456789", "+33612345678"),
            ("marie.dubois@globex.fr",),
            address="12 rue de la Paix, 75002 Paris",
        ),
    ),
    Case(
        "fr-hyphenated-first-name-sarl-fixe-fax",
        "Merci pour votre retour.\n\nBien cordialement\n"
        "Jean-Pierre Martin | Responsable des achats\n"
        "Martin & Fils SARL\nFixe : 01 23 45 67 89\nFax : 01 23 45 67 90",
        Person("jp.martin@martin-fils.fr", "Jean-Pierre Martin"),
        "FR",
        sig(
            "Jean-Pierre Martin", "Responsable des achats", "Martin & Fils SARL", ("+33123456789",)
        ),
    ),
    Case(
        "fr-bien-a-vous-s-a-r-l-luxembourg-number",
        "Je reste à votre disposition.\n\nBien à vous,\nSophie Lefèvre\nChargée d'affaires\n"
        "Lefèvre Conseil S.à r.l.\n+352 26 12 34 56",
        Person("sophie.lefevre@lefevre.lu", "Sophie Lefèvre"),
        "FR",
        sig("Sophie Lefèvre", "Chargée d'affaires", "Lefèvre Conseil S.à r.l.", ("+35226123456",)),
    ),
    Case(
        "fr-salutations-disclaimer",
        "Voici les documents demandés.\n\nSalutations\nPierre Durand\nGérant\nDurand SA\n"
        "+33 4 56 78 90 12\n\n"
        "Ce message et ses pièces jointes sont confidentiels et destinés exclusivement au "
        "destinataire. Si vous avez reçu ce message par erreur, merci de le détruire.",
        Person("pierre.durand@durand.fr", "Pierre Durand"),
        "FR",
        sig("Pierre Durand", "Gérant", "Durand SA", ("+33456789012",)),
    ),
    Case(
        "fr-merci-website-from-local-part",
        "C'est noté.\n\nMerci,\nClaire Moreau\nAcheteuse\nMoreau Industries SAS\n"
        "claire.moreau@moreau-industries.fr\nwww.moreau-industries.fr",
        Person("claire.moreau@moreau-industries.fr"),
        "FR",
        sig(
            "Claire Moreau",
            "Acheteuse",
            "Moreau Industries SAS",
            emails=("claire.moreau@moreau-industries.fr",),
            website="www.moreau-industries.fr",
        ),
    ),
    Case(
        "fr-monsieur-prefix-zero-in-brackets",
        "Bonne réception.\n\nCordialement\nM. Antoine Bernard\nDirecteur général\n"
        "Bernard Logistique S.A.\nTél. +33 (0)1 23 45 67 89",
        Person("antoine.bernard@bernard-logistique.fr", "Antoine Bernard"),
        "FR",
        sig("Antoine Bernard", "Directeur général", "Bernard Logistique S.A.", ("+33123456789",)),
    ),
    Case(
        "fr-service-client-without-name",
        "Votre commande est expédiée.\n\nCordialement,\nService Client\nGlobex SAS\n01 23 45 67 89",
        Person("contact@globex.fr"),
        "FR",
        None,
    ),
    # ---------------------------------------------------------------- Spanish
    Case(
        "es-saludos-cordiales-calle-movil",
        """Hola Anna,

Te adjunto la oferta.

Saludos cordiales,

José García
Director Comercial
Globex Ibérica S.L.
Calle Mayor 1, 28013 Madrid
Tel.: +34 912 345 678
Móvil: +34 612 345 678
jose.garcia@globex.es""",
        Person("jose.garcia@globex.es", "José García"),
        "ES",
        sig(
            "José García",
            "Director Comercial",
            "Globex Ibérica S.L.",
            ("+34612345678", "+34912345678"),
            ("jose.garcia@globex.es",),
            address="Calle Mayor 1, 28013 Madrid",
        ),
    ),
    Case(
        "es-un-saludo-two-surnames",
        "Recibido, gracias.\n\nUn saludo\nMaría Fernández López\nJefa de Compras | Fernández S.A.\n"
        "móvil 612 345 678",
        Person("maria.fernandez@fernandez.es", "María Fernández López"),
        "ES",
        sig("María Fernández López", "Jefa de Compras", "Fernández S.A.", ("+34612345678",)),
    ),
    Case(
        "es-atentamente-don-prefix-slu-fax",
        "Quedamos a la espera de su confirmación.\n\nAtentamente,\nD. Carlos Ruiz\nGerente\n"
        "Ruiz y Asociados S.L.U.\nTeléfono: 91 234 56 78\nFax: 91 234 56 79",
        Person("carlos.ruiz@ruizasociados.es", "Carlos Ruiz"),
        "ES",
        sig("Carlos Ruiz", "Gerente", "Ruiz y Asociados S.L.U.", ("+34912345678",)),
    ),
    Case(
        "es-disclaimer-and-website",
        "Le confirmo la recogida.\n\nUn cordial saludo\nLaura Martínez\n"
        "Responsable de Logística\nTransportes Martínez SL\nwww.transportesmartinez.es\n\n"
        "Este mensaje y sus anexos son confidenciales y se dirigen exclusivamente a su "
        "destinatario. Si lo ha recibido por error, le rogamos que lo comunique al remitente.",
        Person("laura.martinez@transportesmartinez.es", "Laura Martínez"),
        "ES",
        sig(
            "Laura Martínez",
            "Responsable de Logística",
            "Transportes Martínez SL",
            website="www.transportesmartinez.es",
        ),
    ),
    Case(
        "es-gracias-ingeniero",
        "Te mando los planos.\n\nGracias,\nJavier Sánchez\nIngeniero de Proyectos\n"
        "Sánchez Ingeniería S.L.\n+34 93 123 45 67",
        Person("javier.sanchez@sanchez-ing.es", "Javier Sánchez"),
        "ES",
        sig(
            "Javier Sánchez", "Ingeniero de Proyectos", "Sánchez Ingeniería S.L.", ("+34931234567",)
        ),
    ),
    Case(
        "es-departamento-without-name",
        "Adjuntamos la factura.\n\nSaludos\nDepartamento de Administración\nGlobex Ibérica S.L.\n"
        "91 234 56 78",
        Person("administracion@globex.es"),
        "ES",
        None,
    ),
    Case(
        "es-dash-delimiter-and-company-from-domain",
        "Perfecto.\n—\nAna Torres\nConsultora\nNovatec\n+34 612 345 678",
        Person("ana.torres@novatec.es", "Ana Torres"),
        "ES",
        sig("Ana Torres", "Consultora", "Novatec", ("+34612345678",)),
    ),
    # ---------------------------------------------------------------- mixed
    Case(
        "underscore-delimiter-unknown-display-name",
        "See below.\n___\nOlivia Brown\nAccount Executive\nPied Piper Inc.\n+1 415 555 0123",
        Person("obrown@piedpiper.com"),
        "US",
        sig("Olivia Brown", "Account Executive", "Pied Piper Inc.", ("+14155550123",)),
    ),
    Case(
        "display-name-with-company-suffix",
        "OK.\n\nPozdrawiam\nAnna Kowalska\nACME Sp. z o.o.",
        Person("anna@acme.pl", "Anna Kowalska (ACME)"),
        "PL",
        sig("Anna Kowalska", "", "ACME Sp. z o.o."),
    ),
    Case(
        "invalid-region-keeps-international-numbers",
        "OK.\n\nRegards,\nJohn Smith\n+44 20 7946 0958\n020 7946 0000",
        Person("john.smith@initech.co.uk", "John Smith"),
        "not-a-region",
        sig("John Smith", phones=("+442079460958",)),
    ),
    Case(
        "first-name-only-signoff-has-no-signature",
        "Thanks for the call.\n\nBest,\nAnna",
        Person("anna.kowalska@acme.pl", "Anna Kowalska"),
        "PL",
        None,
    ),
    Case(
        "mobile-footer-only",
        "Ok, zgoda.\n\nWysłane z iPhone'a",
        Person("anna.kowalska@acme.pl", "Anna Kowalska"),
        "PL",
        None,
    ),
    Case(
        "standard-delimiter-wins-over-underscore-line-inside-signature",
        "OK.\n-- \nAnna Kowalska\nHead of Procurement\n______________________\n"
        "ACME Sp. z o.o. | ul. Prosta 2, 00-850 Warszawa | tel. 22 123 45 67",
        Person("anna.kowalska@acme.pl", "Anna Kowalska"),
        "PL",
        sig(
            "Anna Kowalska",
            "Head of Procurement",
            "ACME Sp. z o.o.",
            ("+48221234567",),
            address="ul. Prosta 2, 00-850 Warszawa",
        ),
    ),
    Case(
        "outlook-plain-text-with-cid-image-and-mailto",
        "OK.\n\nPozdrawiam\nAnna Kowalska\n[cid:image001.png@01D9A1B2.3C4D5E60]\n"
        "ACME Sp. z o.o.\nanna.kowalska@acme.pl<mailto:anna.kowalska@acme.pl>\n"
        "www.acme.pl<http://www.acme.pl/>",
        Person("anna.kowalska@acme.pl", "Anna Kowalska"),
        "PL",
        sig(
            "Anna Kowalska",
            "",
            "ACME Sp. z o.o.",
            emails=("anna.kowalska@acme.pl",),
            website="www.acme.pl",
        ),
    ),
    Case(
        "html-table-cells-on-their-own-lines-tel-fax-combined",
        "OK\n\nBest regards\n\nAnna Kowalska\n|\nHead of Procurement\n|\nACME Sp. z o.o.\n\n"
        "Tel/Fax: +48 22 123 45 67",
        Person("anna.kowalska@acme.pl", "Kowalska, Anna"),
        "PL",
        sig("Anna Kowalska", "Head of Procurement", "ACME Sp. z o.o.", ("+48221234567",)),
    ),
    Case(
        "all-capitals",
        "OK\n\nANNA KOWALSKA\nHEAD OF PROCUREMENT\nACME SP. Z O.O.\n+48 601 234 567",
        Person("anna.kowalska@acme.pl"),
        "PL",
        sig("ANNA KOWALSKA", "HEAD OF PROCUREMENT", "ACME SP. Z O.O.", ("+48601234567",)),
    ),
    Case(
        "thanks-and-regards-multi-part-title",
        "OK\n\nThanks & Regards,\nRahul Sharma\nSr. Manager - Procurement\n"
        "Tata Consultancy Services Ltd.\nMob: +91 98765 43210",
        Person("rahul.sharma@tcs.com", "Rahul Sharma"),
        "IN",
        sig(
            "Rahul Sharma",
            "Sr. Manager - Procurement",
            "Tata Consultancy Services Ltd.",
            ("+919876543210",),
        ),
    ),
    Case(
        "initial-in-display-name",
        "OK.\n\nRegards,\nJohn Smith\n+1 212 555 0147",
        Person("jsmith@initech.com", "J. Smith"),
        "US",
        sig("John Smith", phones=("+12125550147",)),
    ),
    Case(
        "first-name-that-is-also-an-honorific",
        "OK.\n\nRegards,\nDon Johnson\n+1 212 555 0147",
        Person("don@initech.com", "Don Johnson"),
        "US",
        sig("Don Johnson", phones=("+12125550147",)),
    ),
    Case(
        "one-word-local-part-confirms-the-name",
        "OK.\n\nPozdrawiam\nAnna Kowalska\ntel. 601 234 567",
        Person("akowalska@acme.pl"),
        "PL",
        sig("Anna Kowalska", phones=("+48601234567",)),
    ),
    Case(
        "display-name-beats-a-one-word-local-part",
        "OK.\n\nPozdrawiam\nAnna Nowak\ntel. 601 234 567",
        Person("anna@acme.pl", "Anna Kowalska"),
        "PL",
        None,
    ),
    Case(
        "quick-reply-without-blank-lines-and-glued-disclaimer",
        "Könnten Sie mir bitte bis Freitag eine Rückmeldung geben, danke.\n-- \n"
        "Sabine Hoffmann\nLeiterin Einkauf | Hoffmann KG\nTel. 0221 123456\n"
        "Diese E-Mail enthält vertrauliche und/oder rechtlich geschützte Informationen. Wenn\n"
        "Sie nicht der richtige Adressat sind, informieren Sie bitte den Absender.",
        Person("s.hoffmann@hoffmann-kg.de", "Sabine Hoffmann"),
        "DE",
        sig("Sabine Hoffmann", "Leiterin Einkauf", "Hoffmann KG", ("+49221123456",)),
    ),
    Case(
        "sender-name-without-closing-or-blank-line",
        "Proszę o kontakt pod numerem 601 234 567.\nAnna Kowalska",
        Person("anna.kowalska@acme.pl", "Anna Kowalska"),
        "PL",
        sig("Anna Kowalska"),
    ),
    Case(
        "someone-elses-details-announced-by-a-colon",
        "Proszę o kontakt z:\n\nJan Nowak\ntel. 601 234 567",
        None,
        "PL",
        None,
    ),
    Case(
        "name-without-anything-else-after-closing",
        "Zgoda.\n\nPozdrawiam\nAnna Kowalska",
        Person("anna.kowalska@acme.pl", "Anna Kowalska"),
        "PL",
        sig("Anna Kowalska"),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_parse_signature(case: Case) -> None:
    """Each real-world signature yields exactly these fields (or no signature at all)."""
    assert parse_signature(case.text, case.sender, case.region) == case.expected


def test_there_are_enough_cases_in_every_language() -> None:
    """The corpus covers all five languages with at least 40 signatures."""
    assert len(CASES) >= 40
    for prefix in ("pl-", "en-", "de-", "fr-", "es-"):
        assert sum(c.id.startswith(prefix) for c in CASES) >= 7


# -------------------------------------------------------------------- vocabulary

CLOSINGS = [
    "Best regards", "Kind regards", "Regards", "Thanks", "Cheers", "Pozdrawiam", "Z poważaniem",
    "Pozdrawiam serdecznie", "Serdecznie pozdrawiam", "Z wyrazami szacunku",
    "Mit freundlichen Grüßen", "Viele Grüße", "Beste Grüße", "MfG", "Cordialement",
    "Bien cordialement", "Bien à vous", "Salutations", "Saludos", "Un saludo", "Atentamente",
    "Saludos cordiales",
]  # fmt: skip


@pytest.mark.parametrize("closing", CLOSINGS)
@pytest.mark.parametrize("form", ["{}", "{},", "{}!", "{}\n", "{},\n", "UPPER", "lower,"])
def test_closings(closing: str, form: str) -> None:
    """Every closing, in any case, with or without a comma or an empty line after it."""
    line = {"UPPER": closing.upper(), "lower,": closing.lower() + ","}.get(form) or form.format(
        closing
    )
    text = f"Body text here.\n\n{line}\nAnna Kowalska\nKierownik ds. zakupów"
    assert split_signature(text) == ("Body text here.", "Anna Kowalska\nKierownik ds. zakupów")
    result = parse_signature(text, Person("anna.kowalska@acme.pl", "Anna Kowalska"), "PL")
    assert result == sig("Anna Kowalska", "Kierownik ds. zakupów")


MOBILE_FOOTERS = [
    "Sent from my iPhone", "Sent from my Samsung Galaxy smartphone.", "Sent from Mail for Windows",
    "Get Outlook for Android", "Get Outlook for iOS<https://aka.ms/o0ukef>", "Wysłane z iPhone'a",
    "Wysłane z iPhone’a", "Wysłano z mojego smartfona Samsung Galaxy",
    "Pobierz Outlook dla systemu Android", "Von meinem iPhone gesendet",
    "Von meinem Samsung Galaxy Smartphone gesendet", "Gesendet von Mail für Windows",
    "Outlook für Android herunterladen", "Envoyé de mon iPhone",
    "Envoyé depuis mon appareil mobile", "Télécharger Outlook pour Android",
    "Enviado desde mi iPhone", "Enviado desde mi teléfono Huawei", "Obtener Outlook para iOS",
]  # fmt: skip


@pytest.mark.parametrize("footer", MOBILE_FOOTERS)
def test_mobile_footers(footer: str) -> None:
    """Mobile footers go, alone or right under a signature, and are no signature."""
    assert split_signature(f"Ok.\n\n{footer}") == ("Ok.", "")
    assert parse_signature(f"Ok.\n\n{footer}", Person("a@acme.pl", "Anna Kowalska"), "PL") is None
    text = f"Ok.\n\nPozdrawiam\nAnna Kowalska\n{footer}"
    assert split_signature(text) == ("Ok.", "Anna Kowalska")


LEGAL_FORMS = [
    "Sp. z o.o.", "sp. z o.o.", "Sp.j.", "Sp.k.", "S.A.", "SA", "GmbH", "GmbH & Co. KG", "AG",
    "KG", "e.K.", "UG (haftungsbeschränkt)", "Ltd", "Ltd.", "Limited", "LLC", "Inc.", "Inc",
    "Corp.", "PLC", "SAS", "SARL", "S.à r.l.", "SL", "S.L.", "S.L.U.", "SRL", "B.V.", "N.V.",
    "Oy", "AB", "A/S",
]  # fmt: skip


@pytest.mark.parametrize("form", LEGAL_FORMS)
def test_legal_forms(form: str) -> None:
    """A company line is recognised by its legal form, kept as written."""
    text = f"OK.\n\nRegards,\nAnna Kowalska\nHead of Sales\nGlobex Trading {form}\n"
    result = parse_signature(text, Person("anna.kowalska@acme.pl", "Anna Kowalska"), "PL")
    assert result == sig("Anna Kowalska", "Head of Sales", f"Globex Trading {form}")


PHONE_LABELS = [
    "tel.", "tel:", "Tel.:", "telefon", "kom.", "kom:", "tel. kom.", "mob.", "mobile", "Mobil",
    "Handy", "M:", "T:", "P:", "Phone:", "Office:", "Direct:", "Durchwahl", "móvil", "Móvil:",
    "Tél :", "Portable :", "Fixe :", "Tel./Fax:", "",
]  # fmt: skip


@pytest.mark.parametrize("label", PHONE_LABELS)
def test_phone_labels(label: str) -> None:
    """Phones are found after any label (or none); "Tel./Fax" is a phone too."""
    text = f"OK.\n\nPozdrawiam\nAnna Kowalska\n{label} +48 601 234 567"
    result = parse_signature(text, Person("anna.kowalska@acme.pl", "Anna Kowalska"), "PL")
    assert result is not None
    assert result.phones == ("+48601234567",)


@pytest.mark.parametrize("label", ["Fax", "fax:", "Fax.", "FAX:", "Telefax", "faks", "F:"])
def test_fax_numbers_are_not_phones(label: str) -> None:
    """Fax numbers are left out, on their own line or after a phone on the same line."""
    text = (
        "OK.\n\nPozdrawiam\nAnna Kowalska\n"
        f"{label} +48 22 123 45 68\nT: +48 22 123 45 67 | {label} +48 22 123 45 69"
    )
    result = parse_signature(text, Person("anna.kowalska@acme.pl", "Anna Kowalska"), "PL")
    assert result is not None
    assert result.phones == ("+48221234567",)


@pytest.mark.parametrize(
    ("written", "region", "e164"),
    [
        ("+48 601 234 567", "PL", "+48601234567"),
        ("+48 (22) 123 45 67", "PL", "+48221234567"),
        ("601-234-567", "PL", "+48601234567"),
        ("(22) 123 45 67", "PL", "+48221234567"),
        ("0048 601 234 567", "PL", "+48601234567"),
        ("601.234.567", "PL", "+48601234567"),
        ("601\u00a0234\u00a0567", "PL", "+48601234567"),
        ("+49 (0)30 1234567", "PL", "+49301234567"),
        ("030 1234567", "DE", "+49301234567"),
        ("030/1234567", "DE", "+49301234567"),
        ("+33 1 23 45 67 89", "PL", "+33123456789"),
        ("01 23 45 67 89", "FR", "+33123456789"),
        ("+34 912 345 678", "PL", "+34912345678"),
        ("+1 (415) 555-0123 ext. 12", "PL", "+14155550123"),
        ("+48 22 123 45 67 wew. 12", "PL", "+48221234567"),
        ("+44 20 7946 0958", "DE", "+442079460958"),
    ],
)
def test_phone_formats(written: str, region: str, e164: str) -> None:
    """National numbers are read in the organisation's region, international ones by prefix;
    extensions are dropped."""
    text = f"OK.\n\nRegards,\nAnna Kowalska\nTel. {written}"
    result = parse_signature(text, Person("anna.kowalska@acme.pl", "Anna Kowalska"), region)
    assert result is not None
    assert result.phones == (e164,)


# -------------------------------------------------------------------- split_signature


@pytest.mark.parametrize(
    ("text", "body"),
    [
        ("Proszę o ofertę.\n\nPozdrawiam\nAnna Kowalska\ntel. 601 234 567", "Proszę o ofertę."),
        ("Anbei das Angebot.\n\nMit freundlichen Grüßen,\n\nHans Müller", "Anbei das Angebot."),
        ("Ci-joint le devis.\n\nBien cordialement\nMarie Dubois", "Ci-joint le devis."),
        ("Adjunto la oferta.\n\nUn saludo,\nJosé García", "Adjunto la oferta."),
        ("See attached.\n\nKind regards\nJohn Smith", "See attached."),
        ("See attached.\n\nREGARDS,\nJohn Smith", "See attached."),
        ("See attached.\n-- \nJohn Smith\n+44 20 7946 0958", "See attached."),
        ("Siehe Anhang.\n__\nHans Müller", "Siehe Anhang."),
        ("Ok.\n\nSent from my iPhone", "Ok."),
        ("Ok.\n\nWysłane z iPhone'a", "Ok."),
        ("Ok.\n\nVon meinem iPhone gesendet", "Ok."),
        ("Ok.\n\nEnvoyé de mon iPhone", "Ok."),
        ("Ok.\n\nEnviado desde mi iPhone", "Ok."),
        ("Ok.\n\nGet Outlook for Android", "Ok."),
        ("Ok.\n\nPobierz Outlook dla systemu Android", "Ok."),
        ("Thanks!", "Thanks!"),
        ("Danke!\n\nVon meinem iPhone gesendet", "Danke!"),
        ("Dziękuję,\nAnna", "Dziękuję,\nAnna"),
        ("Thanks for the quick reply, that helps.", "Thanks for the quick reply, that helps."),
        (
            "Gracias.\n\nEste mensaje y sus anexos son confidenciales y se dirigen exclusivamente "
            "a su destinatario.",
            "Gracias.",
        ),
        (
            "Proszę o fakturę.\n\nTa wiadomość jest poufna.\n"
            "Administratorem Pani/Pana danych osobowych jest ACME Sp. z o.o. (RODO).",
            "Proszę o fakturę.",
        ),
        (
            "Bitte bestätigen.\n\nMüller GmbH, Amtsgericht Berlin HRB 12345\n"
            "USt-IdNr.: DE812345678",
            "Bitte bestätigen.",
        ),
        (
            "Please confirm.\n\nEmily Clarke\nOperations Manager\nWayne Enterprises Inc.",
            "Please confirm.",
        ),
        ("", ""),
    ],
)
def test_split_signature_body(text: str, body: str) -> None:
    """The body loses closings, signatures, disclaimers, registry lines and mobile footers,
    in all five languages, and keeps a message that is only "Thanks!"."""
    assert split_signature(text)[0] == body


@pytest.mark.parametrize(
    "text",
    [
        "Dzień dobry,\n\nZgodnie z RODO proszę o usunięcie moich danych osobowych z bazy.",
        "Dzień dobry,\n\nW związku z RODO proszę o informację, kto jest administratorem moich "
        "danych osobowych i w jakim celu są one przetwarzane przez Państwa firmę.",
        "Hello,\n\nThis email is to ask which personal data you keep about me under GDPR.",
        "Hello,\n\nPlease update our VAT number: PL5250000000",
        "Guten Tag,\n\nunsere neue USt-IdNr. lautet DE812345678.",
        "Hi,\n\nThe figures are confidential, please do not forward them.",
    ],
)
def test_customer_words_about_privacy_or_tax_stay_in_the_body(text: str) -> None:
    """Disclaimer and registry words alone do not cut a message that has no signature:
    a customer's GDPR request or new VAT number is the message."""
    assert split_signature(text) == (text, "")


def test_footers_below_a_signature_are_cut_by_their_words_alone() -> None:
    """Below a signature, one registry entry or a confidentiality notice without a
    boilerplate opening is a footer."""
    text = (
        "Please update our VAT number.\n\nBest regards\nAnna Kowalska\n\n"
        "VAT: PL5250000000\n\n"
        "The contents of this message are confidential; if you received it in error, delete it."
    )
    assert split_signature(text) == ("Please update our VAT number.", "Anna Kowalska")


def test_quoted_history_below_a_signature_is_not_the_senders() -> None:
    """A quote kept because text follows it (tests/reliability/test_privacy.py): the
    attribution and the ``>`` lines below the signature are a third party's words, so their
    phones and addresses never become the sender's."""
    text = (
        "Dzień dobry,\n\nzgoda na warunki.\n\nPozdrawiam\nJan Kowalski\nACME Sp. z o.o.\n"
        "tel. 601 234 567\n\n"
        "W dniu 2.11.2026 o 09:30, Piotr Wiśniewski <piotr@third.pl> napisał:\n"
        "> Proszę kontaktować się z ola.nowak@third.pl, tel. 602 345 678.\n"
        "> Piotr Wiśniewski\n> Third Sp. z o.o.\n> tel. 603 456 789\n\nP.S. do jutra\n"
    )
    signature = parse_signature(text, Person("jan@acme.pl", "Jan Kowalski"), "PL")
    assert signature is not None
    assert (signature.name, signature.phones, signature.emails) == (
        "Jan Kowalski",
        ("+48601234567",),
        (),
    )


def test_split_signature_block_is_the_signature_lines_only() -> None:
    """Delimiter, closing, disclaimer and footer lines are in neither part."""
    text = (
        "Hi,\nsee attached.\n\nBest regards,\nJohn Smith\nHead of Procurement\n-- \n"
        "This e-mail is confidential and intended solely for the addressee.\n\n"
        "Sent from my iPhone"
    )
    body, block = split_signature(text)
    assert body == "Hi,\nsee attached."
    assert block == "John Smith\nHead of Procurement"


def test_split_signature_keeps_a_name_written_on_the_closing_line() -> None:
    """A name on the closing line ("Thanks, Anna") becomes the first line of the block."""
    assert split_signature("Fine.\n\nThanks, Anna\n+48 601 234 567") == (
        "Fine.",
        "Anna\n+48 601 234 567",
    )


def test_split_signature_uses_the_sender_for_an_undelimited_name() -> None:
    """Without a blank line above the name, only the sender's own name starts a signature."""
    text = "Please confirm.\nEmily Clarke\nOperations Manager"
    assert split_signature(text)[0] == text
    sender = Person("emily.clarke@wayne.com", "Emily Clarke")
    assert split_signature(text, sender=sender)[0] == "Please confirm."


def test_closing_far_above_a_long_tail_is_not_a_closing() -> None:
    """A closing-like line followed by more than a signature's worth of text is body."""
    text = "Regards,\n" + "\n".join(f"Line {i} of the report" for i in range(30))
    assert split_signature(text)[0] == text


def test_body_keeps_everything_before_the_window() -> None:
    """Only the end is analysed, but nothing before it is lost."""
    head = "Bericht.\n" * 50_000
    body, block = split_signature(head + "\nMit freundlichen Grüßen\nHans Müller")
    assert body == head.rstrip()
    assert block == "Hans Müller"


# -------------------------------------------------------------------- hostile input


HOSTILE = [
    pytest.param("--\n" * 10_000, id="10k-delimiters"),
    pytest.param("-- \n" * 5_000 + "Anna Kowalska\n+48 601 234 567", id="delimiters-then-sig"),
    pytest.param("a" * 100_000 + "\nPozdrawiam\nAnna Kowalska", id="100k-line"),
    pytest.param("x" * 300_000, id="no-newline-300k"),
    pytest.param("1" * 300_000, id="digits-300k"),
    pytest.param("+48 601 234 567 " * 20_000, id="phones-on-one-line"),
    pytest.param("\n" * 200_000, id="only-newlines"),
    pytest.param("\r\n" * 1000 + "Regards,\r\nJohn Smith\r\n", id="crlf"),
    pytest.param(
        "Pozdrawiam\x00\x1b[31m\nAnna\x07 Kowalska\x85\n\u202etel. 601 234 567", id="ctrl"
    ),
    pytest.param("مع أطيب التحيات\nأحمد علي\nمدير المبيعات\n+971 4 123 4567", id="rtl"),
    pytest.param("\u202eAnna Kowalska\u202c\n\u200bACME Sp. z o.o.", id="bidi"),
    pytest.param("Regards,\n" + "Anna Kowalska | " * 5_000, id="long-segments"),
    pytest.param("@" * 100_000 + "\nwww." * 1000, id="at-signs"),
    pytest.param(("Tel. 22 123 45 67 " * 30 + "\n") * 100, id="many-phones"),
    pytest.param(("Best regards,\n" * 3000), id="only-closings"),
]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_input_never_raises(text: str) -> None:
    """Hostile shapes finish and give well-formed results."""
    sender = Person("anna.kowalska@acme.pl", "Anna Kowalska")
    body, block = split_signature(text)
    assert text.startswith(body)
    assert len(block) <= 60 * 501
    for who in (sender, None):
        result = parse_signature(text, who, "PL")
        assert result is None or (result.name and all(E164.match(p) for p in result.phones))


@pytest.mark.parametrize("region", ["PL", "DE", "FR", "ES", "GB", "US"])
@pytest.mark.parametrize(
    "line",
    [
        "NIP: 525-000-00-00",
        "NIP 526-104-08-28",
        "REGON: 146123456",
        "KRS 0000123456",
        "USt-IdNr.: DE 812 345 678",
        "Amtsgericht Charlottenburg HRB 123456",
        "SIREN 732 829 320",
        "RCS Paris B 732 829 320",
        "N° TVA FR 12 345678901",
        "CIF B-12345678",
        "IBAN PL61 1090 1014 0000 0712 1981 2874",
        "Konto: 61 1090 1014 0000 0712 1981 2874",
        "Urlaub bis 15.03.2024",
        "Since 2024-03-12",
        "Fax: +48 22 123 45 68",
        "Telefax 030 1234568",
        "F: +44 20 7946 0959",
        "faks 22 111 22 33",
        "00-001 Warszawa",
        "10115 Berlin",
    ],
)
def test_numbers_that_are_not_phones(line: str, region: str) -> None:
    """Registry, tax, bank and fax numbers, dates and postal codes never become phones."""
    text = f"OK.\n\nPozdrawiam\nAnna Kowalska\n{line}"
    result = parse_signature(text, Person("anna.kowalska@acme.pl", "Anna Kowalska"), region)
    assert result is not None
    assert result.phones == ()


def test_control_characters_do_not_reach_the_fields() -> None:
    """Controls and bidi overrides are stripped from what goes into the CRM."""
    text = "OK.\n\nPozdrawiam\nAnna\u202e Kowalska\x1b\nKierownik\x00 ds. zakupów\n601 234 567"
    result = parse_signature(text, Person("anna.kowalska@acme.pl", "Anna Kowalska"), "PL")
    assert result == sig("Anna Kowalska", "Kierownik ds. zakupów", phones=("+48601234567",))


# -------------------------------------------------------------------- properties

SIGNATURE_LINES = [
    "Anna Kowalska",
    "Łukasz Żółkiewski | Kierownik ds. zakupów",
    "Dr. Hans Müller · Geschäftsführer",
    "Jan Nowak, CFO",
    "ACME Sp. z o.o.",
    "Müller GmbH & Co. KG",
    "tel. +48 22 123 45 67 | kom. 601 234 567 | fax +48 22 123 45 68",
    "Tél : +33 1 23 45 67 89",
    "Móvil: +34 612 345 678",
    "+1 (415) 555-0123 ext. 12",
    "NIP: 525-000-00-00, REGON: 146123456",
    "USt-IdNr.: DE 812 345 678",
    "IBAN DE89 3704 0044 0532 0130 00",
    "ul. Marszałkowska 1, 00-001 Warszawa",
    "12 rue de la Paix, 75002 Paris",
    "anna.kowalska@acme.pl | www.acme.pl",
    "https://www.linkedin.com/in/x",
    "Best regards,",
    "Pozdrawiam",
    "Mit freundlichen Grüßen",
    "-- ",
    "__",
    "Sent from my iPhone",
    "This e-mail is confidential and intended solely for the addressee.",
    "",
]
JUNK = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=80
) | st.sampled_from(["\x00", "\x1b[0m", "\u202e", "\u200b", "\r", "\t", "+", "(", "0" * 30])
LINES = st.lists(st.sampled_from(SIGNATURE_LINES) | JUNK, max_size=40)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    lines=LINES,
    name=st.sampled_from(["", "Anna Kowalska", "Hans Müller", "ACME", "\u202e\x00"]),
    region=st.sampled_from(["PL", "DE", "FR", "ES", "GB", "US", "", "ZZ", "xx"]),
)
def test_any_mixture_of_lines_is_handled(lines: list[str], name: str, region: str) -> None:
    """Never raises; the body is a prefix of the input; phones are valid E.164 numbers."""
    text = "\n".join(lines)
    body, _ = split_signature(text)
    assert text.startswith(body)
    result = parse_signature(text, Person("anna.kowalska@acme.pl", name), region)
    if result is not None:
        assert result.name
        assert list(result.phones) == sorted(set(result.phones))
        for phone in result.phones:
            assert E164.match(phone)
            assert phonenumbers.is_valid_number(phonenumbers.parse(phone))


@settings(max_examples=100, deadline=None)
@given(text=st.text(max_size=2000))
def test_any_text_is_handled(text: str) -> None:
    """Arbitrary Unicode (controls, RTL, surrogate-free) never breaks either function."""
    body, _ = split_signature(text)
    assert text.startswith(body)
    parse_signature(text, None, "PL")
