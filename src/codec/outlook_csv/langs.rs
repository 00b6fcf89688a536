//! The languages of Outlook's CSV export: [`Language`], and for each one the column names
//! Outlook writes, as `(English 2007+ name, localized name)` pairs, gathered from public
//! sources cited beside each table. Where no source gives a column, smsync writes and reads
//! the English name. Names are matched ignoring case and outer spaces; a localized name
//! that stands for two columns (French `Titre`: Title and Job Title) is told apart by
//! position: its first occurrence is the first column in Outlook's order.

use std::fmt;
use std::str::FromStr;

/// The language of an Outlook whose CSV headers smsync reads and writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize)]
#[serde(into = "&'static str")]
pub enum Language {
    #[default]
    En,
    De,
    Fr,
    Es,
    It,
    Nl,
    PtBr,
    Pl,
    Sv,
    Ja,
}

impl Language {
    pub const ALL: [Language; 10] = [
        Language::En,
        Language::De,
        Language::Fr,
        Language::Es,
        Language::It,
        Language::Nl,
        Language::PtBr,
        Language::Pl,
        Language::Sv,
        Language::Ja,
    ];

    /// The code a setting or a flag names the language by.
    pub fn code(self) -> &'static str {
        match self {
            Language::En => "en",
            Language::De => "de",
            Language::Fr => "fr",
            Language::Es => "es",
            Language::It => "it",
            Language::Nl => "nl",
            Language::PtBr => "pt-BR",
            Language::Pl => "pl",
            Language::Sv => "sv",
            Language::Ja => "ja",
        }
    }

    /// The language's name in English, for reports.
    pub fn name(self) -> &'static str {
        match self {
            Language::En => "English",
            Language::De => "German",
            Language::Fr => "French",
            Language::Es => "Spanish",
            Language::It => "Italian",
            Language::Nl => "Dutch",
            Language::PtBr => "Portuguese (Brazil)",
            Language::Pl => "Polish",
            Language::Sv => "Swedish",
            Language::Ja => "Japanese",
        }
    }

    /// The localized contacts columns (`(English, localized)`; the first pair of an English
    /// column is the name written, later pairs are accepted on read).
    pub(super) fn contacts(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Language::En | Language::Sv => &[],
            Language::De => DE_CONTACTS,
            Language::Fr => FR_CONTACTS,
            Language::Es => ES_CONTACTS,
            Language::It => IT_CONTACTS,
            Language::Nl => NL_CONTACTS,
            Language::PtBr => PT_BR_CONTACTS,
            Language::Pl => PL_CONTACTS,
            Language::Ja => JA_CONTACTS,
        }
    }

    /// The localized tasks columns (only Dutch has a source; see the README).
    pub(super) fn tasks(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Language::Nl => NL_TASKS,
            _ => &[],
        }
    }

    /// Names accepted on read only: smsync read them before sources were cited for the
    /// tables, and no public source confirms them, so they are never written.
    pub(super) fn read_only(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Language::De => DE_READ_ONLY,
            _ => &[],
        }
    }
}

impl fmt::Display for Language {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl From<Language> for &'static str {
    fn from(l: Language) -> Self {
        l.code()
    }
}

impl FromStr for Language {
    type Err = String;

    /// A language code (`en`, `de`, `fr`, `es`, `it`, `nl`, `pt-BR`, `pl`, `sv`, `ja`),
    /// ignoring case (`pt_br` is `pt-BR` too).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let want = s.trim().replace('_', "-");
        Language::ALL
            .into_iter()
            .find(|l| l.code().eq_ignore_ascii_case(&want))
            .ok_or_else(|| {
                let codes: Vec<&str> = Language::ALL.iter().map(|l| l.code()).collect();
                format!(
                    "'{s}' is not an Outlook CSV language; valid: {}",
                    codes.join(", ")
                )
            })
    }
}

// German. Sources: Open-Xchange, open-xchange/appsuite-middleware
// com.openexchange.importexport/importCSV/outlook2007.de_DE.properties (Outlook 2007, cp1252);
// Roundcube, roundcube/roundcubemail program/localization/de_DE/csv2vcard.inc (Gender).
const DE_CONTACTS: &[(&str, &str)] = &[
    ("Title", "Anrede"),
    ("First Name", "Vorname"),
    ("Middle Name", "Weitere Vornamen"),
    ("Last Name", "Nachname"),
    ("Company", "Firma"),
    ("Department", "Abteilung"),
    ("Job Title", "Position"),
    ("Business Street", "Straße geschäftlich"),
    ("Business City", "Ort geschäftlich"),
    ("Business State", "Region geschäftlich"),
    ("Business Postal Code", "Postleitzahl geschäftlich"),
    ("Business Country/Region", "Land/Region geschäftlich"),
    ("Business Country/Region", "Land geschäftlich"),
    ("Home Street", "Straße privat"),
    ("Home City", "Ort privat"),
    ("Home State", "Bundesland/Kanton privat"),
    ("Home Postal Code", "Postleitzahl privat"),
    ("Home Country/Region", "Land/Region privat"),
    ("Other Street", "Weitere Straße"),
    ("Other City", "Weiterer Ort"),
    ("Other State", "Weiteres/r Bundesland/Kanton"),
    ("Other Postal Code", "Weitere Postleitzahl"),
    ("Other Country/Region", "Weiteres/e Land/Region"),
    ("Assistant's Phone", "Telefon Assistent"),
    ("Business Fax", "Fax geschäftlich"),
    ("Business Phone", "Telefon geschäftlich"),
    ("Business Phone 2", "Telefon geschäftlich 2"),
    ("Callback", "Rückmeldung"),
    ("Car Phone", "Autotelefon"),
    ("Company Main Phone", "Telefon Firma"),
    ("Home Fax", "Fax privat"),
    ("Home Phone", "Telefon privat"),
    ("Home Phone 2", "Telefon privat 2"),
    ("Mobile Phone", "Mobiltelefon"),
    ("Other Fax", "Weiteres Fax"),
    ("Other Phone", "Weiteres Telefon"),
    ("Primary Phone", "Haupttelefon"),
    ("Radio Phone", "Mobiltelefon 2"),
    ("TTY/TDD Phone", "Telefon für Hörbehinderte"),
    ("Anniversary", "Jahrestag"),
    ("Assistant's Name", "Name Assistent"),
    ("Birthday", "Geburtstag"),
    ("Categories", "Kategorien"),
    ("Children", "Kinder"),
    ("E-mail Address", "E-Mail-Adresse"),
    ("E-mail 2 Address", "E-Mail 2: Adresse"),
    ("E-mail 3 Address", "E-Mail 3: Adresse"),
    ("Gender", "Geschlecht"),
    ("Manager's Name", "Name des/der Vorgesetzten"),
    ("Notes", "Notizen"),
    ("Office Location", "Büro"),
    ("Organizational ID Number", "Organisations-Nr."),
    ("Profession", "Beruf"),
    ("Sensitivity", "Vertraulichkeit"),
    ("Spouse", "Partner"),
    ("Web Page", "Webseite"),
];

// German names smsync read before (no public source found; read, never written).
const DE_READ_ONLY: &[(&str, &str)] = &[
    ("Business State", "Bundesland/Kanton geschäftlich"),
    ("E-mail 2 Address", "E-Mail 2-Adresse"),
    ("User 1", "Benutzer 1"),
    ("Subject", "Betreff"),
    ("Start Date", "Beginnt am"),
    ("Due Date", "Fällig am"),
    ("Date Completed", "Erledigt am"),
    ("Billing Information", "Abrechnungsinformationen"),
    ("Companies", "Firmen"),
    ("Contacts", "Kontakte"),
    ("Priority", "Priorität"),
    ("% Complete", "% erledigt"),
];

// French. Sources: Open-Xchange, open-xchange/appsuite-middleware
// com.openexchange.importexport/src/com/openexchange/importexport/formats/csv/FrenchOutlookMapper.java
// (its column list, mapped and commented out, in Outlook's order: `Titre` is both the title
// and the job title); Roundcube, roundcube/roundcubemail
// program/localization/fr_FR/csv2vcard.inc (`Pays/Région (…)`).
const FR_CONTACTS: &[(&str, &str)] = &[
    ("Title", "Titre"),
    ("First Name", "Prénom"),
    ("Middle Name", "Deuxième prénom"),
    ("Last Name", "Nom"),
    ("Suffix", "Suffixe"),
    ("Company", "Société"),
    ("Department", "Service"),
    ("Job Title", "Titre"),
    ("Business Street", "Rue (bureau)"),
    ("Business Street 2", "Rue (bureau) 2"),
    ("Business Street 3", "Rue (bureau) 3"),
    ("Business City", "Ville (bureau)"),
    ("Business State", "Dép/Région (bureau)"),
    ("Business Postal Code", "Code postal (bureau)"),
    ("Business Country/Region", "Pays/Région (bureau)"),
    ("Business Country/Region", "Pays (bureau)"),
    ("Home Street", "Rue (domicile)"),
    ("Home Street 2", "Rue (domicile) 2"),
    ("Home Street 3", "Rue (domicile) 3"),
    ("Home City", "Ville (domicile)"),
    ("Home State", "Dép/Région (domicile)"),
    ("Home Postal Code", "Code postal (domicile)"),
    ("Home Country/Region", "Pays/Région (domicile)"),
    ("Home Country/Region", "Pays (domicile)"),
    ("Other Street", "Rue (autre)"),
    ("Other Street 2", "Rue (autre) 2"),
    ("Other Street 3", "Rue (autre) 3"),
    ("Other City", "Ville (autre)"),
    ("Other State", "Dép/Région (autre)"),
    ("Other Postal Code", "Code postal (autre)"),
    ("Other Country/Region", "Pays/Région (autre)"),
    ("Other Country/Region", "Pays (autre)"),
    ("Assistant's Phone", "Téléphone de l'assistant(e)"),
    ("Business Fax", "Télécopie (bureau)"),
    ("Business Phone", "Téléphone (bureau)"),
    ("Business Phone 2", "Téléphone 2 (bureau)"),
    ("Callback", "Rappel"),
    ("Car Phone", "Téléphone (voiture)"),
    ("Company Main Phone", "Téléphone société"),
    ("Home Fax", "Télécopie (domicile)"),
    ("Home Phone", "Téléphone (domicile)"),
    ("Home Phone 2", "Téléphone 2 (domicile)"),
    ("ISDN", "RNIS"),
    ("Mobile Phone", "Tél. mobile"),
    ("Other Fax", "Télécopie (autre)"),
    ("Other Phone", "Téléphone (autre)"),
    ("Pager", "Récepteur de radiomessagerie"),
    ("Primary Phone", "Téléphone principal"),
    ("Radio Phone", "Radio téléphone"),
    ("TTY/TDD Phone", "Téléphone TDD/TTY"),
    ("Telex", "Télex"),
    ("Account", "Compte"),
    ("Anniversary", "Anniversaire de mariage ou fête"),
    ("Assistant's Name", "Nom de l'assistant(e)"),
    ("Billing Information", "Informations facturation"),
    ("Birthday", "Anniversaire"),
    ("Business Address PO Box", "B.P. professionnelle"),
    ("Categories", "Catégories"),
    ("Children", "Enfants"),
    ("Directory Server", "Serveur d'annuaire"),
    ("E-mail Address", "Adresse de messagerie"),
    ("E-mail Type", "Type de messagerie"),
    (
        "E-mail Display Name",
        "Nom complet de l'adresse de messagerie",
    ),
    ("E-mail 2 Address", "Adresse de messagerie 2"),
    ("E-mail 2 Type", "Type de messagerie 2"),
    (
        "E-mail 2 Display Name",
        "Nom complet de l'adresse de messagerie 2",
    ),
    ("E-mail 3 Address", "Adresse de messagerie 3"),
    ("E-mail 3 Type", "Type de messagerie 3"),
    (
        "E-mail 3 Display Name",
        "Nom complet de l'adresse de messagerie 3",
    ),
    ("Gender", "Sexe"),
    ("Government ID Number", "Code gouvernement"),
    ("Hobby", "Passe-temps"),
    ("Home Address PO Box", "Boîte postale du domicile"),
    ("Initials", "Initiales"),
    ("Internet Free Busy", "Disponibilité Internet"),
    ("Keywords", "Mots clés"),
    ("Language", "Langue"),
    ("Location", "Emplacement"),
    ("Manager's Name", "Responsable"),
    ("Mileage", "Kilométrage"),
    ("Notes", "Notes"),
    ("Office Location", "Bureau"),
    (
        "Organizational ID Number",
        "Numéro d'identification de l'organisation",
    ),
    ("Other Address PO Box", "Autre boîte postale"),
    ("Priority", "Priorité"),
    ("Private", "Privé"),
    ("Profession", "Profession"),
    ("Referred By", "Recommandé par"),
    ("Sensitivity", "Critère de diffusion"),
    ("Spouse", "Conjoint(e)"),
    ("User 1", "Utilisateur 1"),
    ("User 2", "Utilisateur 2"),
    ("User 3", "Utilisateur 3"),
    ("User 4", "Utilisateur 4"),
    ("Web Page", "Page Web"),
];

// Spanish. Source: Roundcube, roundcube/roundcubemail
// program/localization/es_ES/csv2vcard.inc. Spanish Outlook keeps some English names
// (Title, Department, Business Fax, Mobile Phone, E-mail Address, Notes …), so those stay
// English here. (The source maps "Provincia o estado de trabajo" to the country and "País
// o región del trabajo" to the region; the words say state and country, and so does this
// table.)
const ES_CONTACTS: &[(&str, &str)] = &[
    ("First Name", "Nombre"),
    ("Middle Name", "Segundo nombre"),
    ("Last Name", "Apellidos"),
    ("Company", "Organización"),
    ("Job Title", "Puesto"),
    ("Business Street", "Calle del trabajo"),
    ("Business City", "Ciudad de trabajo"),
    ("Business State", "Provincia o estado de trabajo"),
    ("Business Postal Code", "Código postal del trabajo"),
    ("Business Country/Region", "País o región del trabajo"),
    ("Home Country/Region", "País o región del domicilio"),
    ("Other Street", "Otra calle"),
    ("Other City", "Otra ciudad"),
    ("Other State", "Otra provincia o estado"),
    ("Other Postal Code", "Otro código postal"),
    ("Other Country/Region", "Otro país o región"),
    ("Business Phone", "Teléfono del trabajo"),
    ("Home Phone", "Particular"),
    ("Other Fax", "Otro fax"),
    ("Other Phone", "Otro teléfono"),
    ("Primary Phone", "Teléfono principal"),
    ("Categories", "Categorías"),
    ("E-mail 2 Address", "Dirección de correo electrónico 2"),
    ("E-mail 3 Address", "Dirección del correo electrónico 3"),
    ("Gender", "Género"),
    ("Manager's Name", "Nombre del director"),
    ("Web Page", "Página web"),
];

// Italian. Source: Roundcube, roundcube/roundcubemail
// program/localization/it_IT/csv2vcard.inc.
const IT_CONTACTS: &[(&str, &str)] = &[
    ("Title", "Titolo"),
    ("First Name", "Nome"),
    ("Middle Name", "Secondo Nome"),
    ("Last Name", "Cognome"),
    ("Suffix", "Suffisso"),
    ("Company", "Società"),
    ("Department", "Reparto"),
    ("Job Title", "Qualifica"),
    ("Business Street", "Indirizzo di lavoro"),
    ("Business City", "Città di lavoro"),
    ("Business State", "Provincia di lavoro"),
    ("Business Postal Code", "CAP di Lavoro"),
    ("Business Country/Region", "Nazione/Regione di lavoro"),
    ("Home Street", "Indirizzo di casa"),
    ("Home City", "Città di residenza"),
    ("Home State", "Provincia di residenza"),
    ("Home Postal Code", "CAP di casa"),
    ("Home Country/Region", "Nazione/Regione di casa"),
    ("Other Street", "Via Altro"),
    ("Other City", "Città Altro"),
    ("Other State", "Stato Altro"),
    ("Other Postal Code", "CAP Postale Altro"),
    ("Other Country/Region", "Nazione/Regione Altro"),
    ("Assistant's Phone", "Telefono dell'assistente"),
    ("Business Fax", "Fax di Lavoro"),
    ("Business Phone", "Telefono di Lavoro"),
    ("Business Phone 2", "Telefono di Lavoro 2"),
    ("Car Phone", "Telefono dell'Auto"),
    ("Home Fax", "Fax di casa"),
    ("Home Phone", "Telefono di casa"),
    ("Home Phone 2", "Telefono di casa 2"),
    ("Mobile Phone", "Telefono Mobile"),
    ("Other Fax", "Fax Altro"),
    ("Other Phone", "Phone Altro"),
    ("Pager", "Numero cercapersone"),
    ("Primary Phone", "Telefono Principale"),
    ("Anniversary", "Anniversario"),
    ("Assistant's Name", "Nome dell'assistente"),
    ("Birthday", "Compleanno"),
    ("Categories", "Categorie"),
    ("E-mail Address", "Indirizzo E-mail"),
    ("E-mail 2 Address", "Indirizzo E-mail 2"),
    ("E-mail 3 Address", "Indirizzo E-mail 3"),
    ("Gender", "Genere"),
    ("Manager's Name", "Nome del Responsabile"),
    ("Notes", "Note"),
    ("Spouse", "Coniuge"),
    ("Web Page", "Pagina Web"),
];

// Dutch. Sources: Open-Xchange, open-xchange/appsuite-middleware
// com.openexchange.importexport/importCSV/outlook2007.nl_NL.properties (Outlook 2007, with
// the Outlook 2003 names it adds for the business city, state and country, the home state
// and the web page); Mozilla, mozilla/releases-comm-central
// calendar/import-export/CalOutlookCSVImportExport.jsm (`localeNl`: Categorieën, Privé).
const NL_CONTACTS: &[(&str, &str)] = &[
    ("Title", "Titel"),
    ("First Name", "Voornaam"),
    ("Middle Name", "Middelste naam"),
    ("Last Name", "Achternaam"),
    ("Suffix", "Achtervoegsel"),
    ("Company", "Bedrijf"),
    ("Department", "Afdeling"),
    ("Job Title", "Functie"),
    ("Business Street", "Werkadres, straat"),
    ("Business City", "Werkplaats"),
    ("Business State", "Werkprovincie"),
    ("Business Postal Code", "Werkadres, postcode"),
    ("Business Country/Region", "Land/regio (werk)"),
    ("Business Country/Region", "Werkland"),
    ("Home Street", "Huisadres, straat"),
    ("Home City", "Huisadres, plaats"),
    ("Home State", "Provincie"),
    ("Home Postal Code", "Huisadres, postcode"),
    ("Home Country/Region", "Land/regio (thuis)"),
    ("Other Street", "Ander adres, straat"),
    ("Other Postal Code", "Ander adres, postcode"),
    ("Other Country/Region", "Land/regio (anders)"),
    ("Assistant's Phone", "Telefoon assistent"),
    ("Business Fax", "Fax op werk"),
    ("Business Phone", "Telefoon op werk"),
    ("Business Phone 2", "Telefoon op werk 2"),
    ("Callback", "Terugbellen"),
    ("Car Phone", "Autotelefoon"),
    ("Home Fax", "Fax thuis"),
    ("Home Phone", "Telefoon thuis"),
    ("Home Phone 2", "Telefoon thuis 2"),
    ("Mobile Phone", "Mobiele telefoon"),
    ("Other Fax", "Andere fax"),
    ("Other Phone", "Andere telefoon"),
    ("Radio Phone", "Radiotelefoon"),
    ("Assistant's Name", "Naam assistent"),
    ("Birthday", "Verjaardag"),
    ("Categories", "Categorieën"),
    ("Children", "Kinderen"),
    ("E-mail Address", "E-mailadres"),
    ("E-mail 2 Address", "E-mailadres 2"),
    ("E-mail 3 Address", "E-mailadres 3"),
    ("Manager's Name", "Naam manager"),
    ("Notes", "Notities"),
    ("Private", "Privé"),
    ("Profession", "Beroep"),
    ("Spouse", "Partner"),
    ("Web Page", "Webpagina 1"),
];

// Dutch task columns. Source: Mozilla, mozilla/releases-comm-central
// calendar/import-export/CalOutlookCSVImportExport.jsm (`localeNl`, the columns Dutch
// Outlook's calendar CSV shares with its tasks CSV).
const NL_TASKS: &[(&str, &str)] = &[
    ("Subject", "Onderwerp"),
    ("Start Date", "Begindatum"),
    ("Reminder On/Off", "Herinneringen aan/uit"),
    ("Reminder Date", "Herinneringsdatum"),
    ("Reminder Time", "Herinneringstijd"),
    ("Categories", "Categorieën"),
    ("Private", "Privé"),
];

// Portuguese (Brazil). Source: Roundcube, roundcube/roundcubemail
// program/localization/pt_BR/csv2vcard.inc. `Aniversário` is both the anniversary and the
// birthday (told apart by position).
const PT_BR_CONTACTS: &[(&str, &str)] = &[
    ("Title", "Título"),
    ("First Name", "Primeiro nome"),
    ("Middle Name", "Nome do meio"),
    ("Last Name", "Último nome"),
    ("Suffix", "Sufixo"),
    ("Company", "Empresa"),
    ("Department", "Departamento"),
    ("Job Title", "Cargo"),
    ("Business Street", "Rua comercial"),
    ("Business City", "Cidade comercial"),
    ("Business State", "Estado comercial"),
    ("Business Postal Code", "Código postal comercial"),
    ("Business Country/Region", "Região/País comercial"),
    ("Home Street", "Rua de casa"),
    ("Home City", "Cidade de casa"),
    ("Home State", "Estado de casa"),
    ("Home Postal Code", "Código Postal de casa"),
    ("Home Country/Region", "Região/País de casa"),
    ("Other Street", "Outra Rua"),
    ("Other City", "Outra cidade"),
    ("Other State", "Outro Estado"),
    ("Other Postal Code", "Outro Código Postal"),
    ("Other Country/Region", "Outro País/Região"),
    ("Assistant's Phone", "Fone do Assistente"),
    ("Business Fax", "Fax comercial"),
    ("Business Phone", "Fone comercial"),
    ("Business Phone 2", "Fone comercial 2"),
    ("Car Phone", "Fone do carro"),
    ("Home Fax", "Fax de casa"),
    ("Home Phone", "Fone de casa"),
    ("Home Phone 2", "Fone de casa 2"),
    ("Mobile Phone", "Celular"),
    ("Other Fax", "Outro Fax"),
    ("Other Phone", "Outro Fone"),
    ("Primary Phone", "Fone Primario"),
    ("Anniversary", "Aniversário"),
    ("Assistant's Name", "Nome do Assistente"),
    ("Birthday", "Aniversário"),
    ("Categories", "Categorias"),
    ("E-mail Address", "Endereço de E-mail"),
    ("E-mail 2 Address", "Endereço de E-mail 2"),
    ("E-mail 3 Address", "Endereço de E-mail 3"),
    ("Gender", "Gênero"),
    ("Manager's Name", "Nome do gerente"),
    ("Notes", "Notas"),
    ("Web Page", "Página Web"),
];

// Polish. Source: Roundcube, roundcube/roundcubemail
// program/localization/pl_PL/csv2vcard.inc.
const PL_CONTACTS: &[(&str, &str)] = &[
    ("Title", "Tytuł"),
    ("First Name", "Imię"),
    ("Middle Name", "Drugie imię"),
    ("Last Name", "Nazwisko"),
    ("Company", "Firma"),
    ("Department", "Oddział"),
    ("Job Title", "Stanowisko"),
    ("Business Street", "Ulica (biuro)"),
    ("Business City", "Miasto (biuro)"),
    ("Business State", "Województwo (biuro)"),
    ("Business Postal Code", "Kod pocztowy (biuro)"),
    ("Business Country/Region", "Kraj/region (biuro)"),
    ("Home Street", "Ulica (dom)"),
    ("Home City", "Miasto (dom)"),
    ("Home State", "Województwo (dom)"),
    ("Home Postal Code", "Kod pocztowy (dom)"),
    ("Home Country/Region", "Kraj/region (dom)"),
    ("Assistant's Phone", "Telefon asystenta"),
    ("Business Fax", "Faks służbowy"),
    ("Business Phone", "Telefon służbowy"),
    ("Business Phone 2", "Telefon służbowy 2"),
    ("Home Fax", "Faks domowy"),
    ("Home Phone", "Telefon domowy"),
    ("Mobile Phone", "Telefon komórkowy"),
    ("Primary Phone", "Telefon główny"),
    ("Anniversary", "Rocznica"),
    ("Assistant's Name", "Asystent"),
    ("Birthday", "Urodziny"),
    ("Categories", "Kategorie"),
    ("E-mail Address", "Adres e-mail"),
    ("Gender", "Płeć"),
    ("Manager's Name", "Menadżer"),
    ("Notes", "Notatki"),
    ("Web Page", "Osobista strona sieci Web"),
];

// Japanese. Source: Open-Xchange, open-xchange/appsuite-middleware
// com.openexchange.importexport/importCSV/outlook2010.jp_JP.properties (Outlook 2010,
// shift_jis). That file maps the categories to キーワード; this table follows it.
const JA_CONTACTS: &[(&str, &str)] = &[
    ("Title", "肩書き"),
    ("First Name", "名"),
    ("Middle Name", "ミドル ネーム"),
    ("Last Name", "姓"),
    ("Company", "会社名"),
    ("Department", "部署"),
    ("Job Title", "役職"),
    ("Business Street", "番地 (会社)"),
    ("Business City", "市町村 (会社)"),
    ("Business State", "都道府県 (会社)"),
    ("Business Postal Code", "郵便番号 (会社)"),
    ("Business Country/Region", "国 (会社)/地域"),
    ("Home Street", "番地 (自宅)"),
    ("Home City", "市町村 (自宅)"),
    ("Home State", "都道府県 (自宅)"),
    ("Home Postal Code", "郵便番号 (自宅)"),
    ("Home Country/Region", "国 (自宅)/地域"),
    ("Other Street", "番地 (その他)"),
    ("Other City", "市町村 (その他)"),
    ("Other State", "都道府県 (その他)"),
    ("Other Postal Code", "郵便番号 (その他)"),
    ("Other Country/Region", "国 (その他)/地域"),
    ("Assistant's Phone", "秘書の電話"),
    ("Business Fax", "会社 FAX"),
    ("Business Phone", "会社電話"),
    ("Business Phone 2", "会社電話 2"),
    ("Callback", "コールバック"),
    ("Car Phone", "自動車電話"),
    ("Company Main Phone", "会社代表電話"),
    ("Home Fax", "自宅 FAX"),
    ("Home Phone", "自宅電話"),
    ("Home Phone 2", "自宅電話 2"),
    ("Mobile Phone", "携帯電話"),
    ("Other Fax", "その他の FAX"),
    ("Other Phone", "その他の電話"),
    ("Pager", "ポケットベル"),
    ("Primary Phone", "通常の電話"),
    ("Radio Phone", "無線電話"),
    ("TTY/TDD Phone", "TTY/TDD"),
    ("Telex", "テレックス"),
    ("Anniversary", "記念日"),
    ("Assistant's Name", "秘書の氏名"),
    ("Birthday", "誕生日"),
    ("Categories", "キーワード"),
    ("Children", "子供"),
    ("E-mail Address", "電子メール アドレス"),
    ("E-mail 2 Address", "電子メール 2 アドレス"),
    ("E-mail 3 Address", "電子メール 3 アドレス"),
    ("Manager's Name", "マネージャー"),
    ("Notes", "メモ"),
    ("Organizational ID Number", "会社 ID"),
    ("Private", "プライベート"),
    ("Profession", "職業"),
    ("Spouse", "配偶者"),
    ("Web Page", "Web ページ"),
];
