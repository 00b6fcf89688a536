//! The field mapping ("Outlook Field Mapping", SPEC §7): one table that names every field of
//! every record kind, its storage column, its Outlook CSV column, its vCard/iCalendar property,
//! its MAPI property and whether Outlook may update it. Every format, the admin commands and
//! `smsync fields` are driven from this table; nothing else lists fields.
//!
//! Property specs (`prop`) use a small notation that the codecs read:
//! `NAME[;PARAM=V,...][[i]][#n]` — `[i]` is the i-th `;`-separated component of a structured
//! value (N, ADR, ORG), `#n` the n-th occurrence of that property, counting from 1.

use crate::mapi::{Mapi, MapiId, PropSet, lid, tag};

use serde::Serialize;

use crate::kind::Kind;

/// The type of a field's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ty {
    Text,
    Bool,
    Int,
    /// A calendar date, `YYYY-MM-DD`.
    Date,
    /// One of a fixed list of values (canonical spelling first in the list is not implied).
    Choice(&'static [&'static str]),
    /// A reference to a record of the kind.
    Ref(Kind),
    /// References to records of the kind (comma-separated keys on the command line).
    Refs(Kind),
    /// A point in time kept by smsync (microseconds since the epoch).
    Stamp,
}

impl Ty {
    pub fn describe(self) -> String {
        match self {
            Ty::Text => "text".into(),
            Ty::Bool => "true|false".into(),
            Ty::Int => "integer".into(),
            Ty::Date => "date YYYY-MM-DD".into(),
            Ty::Choice(c) => c.join("|"),
            Ty::Ref(k) => format!("{} key", k.name()),
            Ty::Refs(k) => format!("{} keys, comma-separated", k.name()),
            Ty::Stamp => "timestamp".into(),
        }
    }
}

/// Who may set a field through `smsync admin`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Must be given on `add`; may be changed with `set`.
    Required,
    /// May be given on `add` and changed with `set`.
    Optional,
    /// Given on `add` only (required when `required`); never changed afterwards.
    Fixed { required: bool },
    /// Kept by smsync (derived or maintained); never set by hand.
    Auto,
}

impl Access {
    pub fn describe(self) -> &'static str {
        match self {
            Access::Required => "required",
            Access::Optional => "optional",
            Access::Fixed { required: true } => "required, fixed",
            Access::Fixed { required: false } => "optional, fixed",
            Access::Auto => "automatic",
        }
    }
}

/// One row of the field mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldDef {
    pub kind: Kind,
    /// snake_case name used by `admin`, JSON output and the rules.
    pub name: &'static str,
    pub ty: Ty,
    pub access: Access,
    /// Storage column; `None` for a field derived from other records.
    pub column: Option<&'static str>,
    /// Outlook CSV column (English, Outlook 2007+).
    pub csv: Option<&'static str>,
    /// vCard (contacts) or iCalendar (tasks) property spec; see the module docs.
    pub prop: Option<&'static str>,
    pub mapi: Option<Mapi>,
    /// Whether an edit made in Outlook may change it (SPEC §7).
    pub updatable: bool,
    pub doc: &'static str,
}

impl FieldDef {
    /// Whether this field travels to Outlook at all.
    pub fn synced(&self) -> bool {
        self.csv.is_some() || self.prop.is_some() || self.mapi.is_some()
    }
}

const fn field(
    kind: Kind,
    name: &'static str,
    ty: Ty,
    access: Access,
    column: Option<&'static str>,
    doc: &'static str,
) -> FieldDef {
    FieldDef {
        kind,
        name,
        ty,
        access,
        column,
        csv: None,
        prop: None,
        mapi: None,
        updatable: false,
        doc,
    }
}

impl FieldDef {
    const fn outlook(
        mut self,
        csv: &'static str,
        prop: &'static str,
        mapi: Mapi,
        updatable: bool,
    ) -> Self {
        self.csv = Some(csv);
        self.prop = Some(prop);
        self.mapi = Some(mapi);
        self.updatable = updatable;
        self
    }
}

impl FieldDef {
    /// A field that Outlook shows but vCard/iCalendar do not carry (the category does).
    const fn csv_only(mut self, csv: &'static str, mapi: Mapi) -> Self {
        self.csv = Some(csv);
        self.mapi = Some(mapi);
        self
    }
}

/// Text columns that are updatable contact details, shared by several contact kinds.
const fn detail(
    kind: Kind,
    name: &'static str,
    csv: &'static str,
    prop: &'static str,
    mapi: Mapi,
    doc: &'static str,
) -> FieldDef {
    field(kind, name, Ty::Text, Access::Optional, Some(name), doc).outlook(csv, prop, mapi, true)
}

const fn street(k: Kind) -> FieldDef {
    detail(
        k,
        "street",
        "Business Street",
        "ADR;TYPE=WORK[2]",
        lid("PidLidWorkAddressStreet", PropSet::Address, 0x8045),
        "street address",
    )
}
const fn city(k: Kind) -> FieldDef {
    detail(
        k,
        "city",
        "Business City",
        "ADR;TYPE=WORK[3]",
        lid("PidLidWorkAddressCity", PropSet::Address, 0x8046),
        "city",
    )
}
const fn region(k: Kind) -> FieldDef {
    detail(
        k,
        "region",
        "Business State",
        "ADR;TYPE=WORK[4]",
        lid("PidLidWorkAddressState", PropSet::Address, 0x8047),
        "state or region",
    )
}
const fn postal_code(k: Kind) -> FieldDef {
    detail(
        k,
        "postal_code",
        "Business Postal Code",
        "ADR;TYPE=WORK[5]",
        lid("PidLidWorkAddressPostalCode", PropSet::Address, 0x8048),
        "postal code",
    )
}
const fn country(k: Kind) -> FieldDef {
    detail(
        k,
        "country",
        "Business Country/Region",
        "ADR;TYPE=WORK[6]",
        lid("PidLidWorkAddressCountry", PropSet::Address, 0x8049),
        "country",
    )
}
const fn phone(k: Kind) -> FieldDef {
    detail(
        k,
        "phone",
        "Business Phone",
        "TEL;TYPE=WORK,VOICE",
        tag("PidTagBusinessTelephoneNumber", 0x3A08),
        "business phone",
    )
}
const fn mobile(k: Kind) -> FieldDef {
    detail(
        k,
        "mobile",
        "Mobile Phone",
        "TEL;TYPE=CELL,VOICE",
        tag("PidTagMobileTelephoneNumber", 0x3A1C),
        "mobile phone",
    )
}
const fn fax(k: Kind) -> FieldDef {
    detail(
        k,
        "fax",
        "Business Fax",
        "TEL;TYPE=WORK,FAX",
        tag("PidTagBusinessFaxNumber", 0x3A24),
        "business fax",
    )
}
const fn email(k: Kind) -> FieldDef {
    detail(
        k,
        "email",
        "E-mail Address",
        "EMAIL;TYPE=INTERNET",
        lid("PidLidEmail1EmailAddress", PropSet::Address, 0x8083),
        "e-mail address",
    )
}
const fn web(k: Kind) -> FieldDef {
    detail(
        k,
        "web",
        "Web Page",
        "URL",
        tag("PidTagBusinessHomePage", 0x3A51),
        "web page",
    )
}
const fn notes(k: Kind, prop: &'static str) -> FieldDef {
    detail(
        k,
        "notes",
        "Notes",
        prop,
        tag("PidTagBody", 0x1000),
        "notes",
    )
}
const fn active(k: Kind, doc: &'static str) -> FieldDef {
    field(k, "active", Ty::Bool, Access::Optional, Some("active"), doc)
}
const fn updated_at(k: Kind) -> FieldDef {
    field(
        k,
        "updated_at",
        Ty::Stamp,
        Access::Auto,
        Some("updated_at"),
        "time of the last change, set on every change",
    )
}
/// The contact's key, carried in `User 1` / `UID` / PidLidContactUserField1.
const fn contact_key(k: Kind) -> FieldDef {
    field(k, "key", Ty::Text, Access::Auto, None, "stable key").outlook(
        "User 1",
        "UID",
        lid("PidLidContactUserField1", PropSet::Address, 0x804F),
        false,
    )
}
/// The Outlook category: the client's name, "Service Agents" or "Tech Database".
const fn category(k: Kind, doc: &'static str) -> FieldDef {
    field(k, "category", Ty::Text, Access::Auto, None, doc).outlook(
        "Categories",
        "CATEGORIES",
        Mapi {
            name: "PidNameKeywords",
            id: MapiId::Name(PropSet::PublicStrings, "Keywords"),
        },
        false,
    )
}
const fn company_ref(k: Kind, required: bool, doc: &'static str) -> FieldDef {
    field(
        k,
        "client",
        Ty::Ref(Kind::Client),
        Access::Fixed { required },
        Some("client_id"),
        doc,
    )
    .outlook("Company", "ORG[0]", tag("PidTagCompanyName", 0x3A16), false)
}
const fn first_name(k: Kind, access: Access) -> FieldDef {
    field(
        k,
        "first_name",
        Ty::Text,
        access,
        Some("first_name"),
        "first name",
    )
    .outlook("First Name", "N[1]", tag("PidTagGivenName", 0x3A06), false)
}
const fn last_name(k: Kind, access: Access) -> FieldDef {
    field(
        k,
        "last_name",
        Ty::Text,
        access,
        Some("last_name"),
        "last name",
    )
    .outlook("Last Name", "N[0]", tag("PidTagSurname", 0x3A11), false)
}

pub const USER_KINDS: &[&str] = &["agent", "client"];
pub const SI_STATUSES: &[&str] = &[
    "New",
    "In Progress",
    "Completion Requested",
    "On Hold",
    "Closed",
    "Cancelled",
];
pub const PRIORITIES: &[&str] = &["Low", "Normal", "High"];
/// The languages of Outlook's CSV headers a profile may ask for (`csv_language`).
pub const CSV_LANGUAGES: &[&str] = &[
    "en", "de", "fr", "es", "it", "nl", "pt-BR", "pl", "sv", "ja",
];
/// The vCard versions of the vdir contacts (`vcard_version`).
pub const VCARD_VERSIONS: &[&str] = &["3.0", "4.0"];

/// The names of the employee fields that are per-profile settings, in table order.
pub const PROFILE_SETTINGS: &[&str] = &[
    "date_format",
    "csv_language",
    "csv_encoding",
    "vcard_version",
    "outputs",
    "full_csv_limit",
    "csv_safe",
    "removal_guard_percent",
    "removal_guard_min",
    "change_guard_percent",
    "change_guard_min",
    "blank_guard_max",
];

/// A per-profile setting of an employee: optional, stored in its own column.
const fn setting(name: &'static str, ty: Ty, doc: &'static str) -> FieldDef {
    field(Kind::Employee, name, ty, Access::Optional, Some(name), doc)
}

static CLIENT: &[FieldDef] = &[
    field(
        Kind::Client,
        "name",
        Ty::Text,
        Access::Required,
        Some("name"),
        "client name, unique; the category of its contacts and tasks",
    ),
    active(
        Kind::Client,
        "inactive clients' locations and users leave Outlook; deactivating makes its users inactive",
    ),
    updated_at(Kind::Client),
];

static LOCATION: &[FieldDef] = &[
    contact_key(Kind::Location),
    company_ref(Kind::Location, true, "the client this location belongs to"),
    field(
        Kind::Location,
        "name",
        Ty::Text,
        Access::Required,
        Some("name"),
        "location name, unique within the client",
    )
    .outlook(
        "Office Location",
        "ORG[1]",
        tag("PidTagOfficeLocation", 0x3A19),
        false,
    ),
    field(
        Kind::Location,
        "main",
        Ty::Bool,
        Access::Optional,
        Some("is_main"),
        "the client's Main location (exactly one per client)",
    ),
    street(Kind::Location),
    city(Kind::Location),
    region(Kind::Location),
    postal_code(Kind::Location),
    country(Kind::Location),
    phone(Kind::Location),
    detail(
        Kind::Location,
        "phone_other",
        "Other Phone",
        "TEL;TYPE=VOICE",
        tag("PidTagOtherTelephoneNumber", 0x3A1F),
        "second phone",
    ),
    fax(Kind::Location),
    email(Kind::Location),
    web(Kind::Location),
    notes(Kind::Location, "NOTE"),
    active(Kind::Location, "inactive locations leave Outlook"),
    category(Kind::Location, "the client's name"),
    updated_at(Kind::Location),
];

static USER: &[FieldDef] = &[
    contact_key(Kind::User),
    field(
        Kind::User,
        "kind",
        Ty::Choice(USER_KINDS),
        Access::Fixed { required: true },
        Some("kind"),
        "agent (service agent) or client (client user)",
    ),
    company_ref(
        Kind::User,
        false,
        "the client of a client user (required for kind=client, none for agents)",
    ),
    first_name(Kind::User, Access::Required),
    last_name(Kind::User, Access::Required),
    detail(
        Kind::User,
        "job_title",
        "Job Title",
        "TITLE",
        tag("PidTagTitle", 0x3A17),
        "job title",
    ),
    detail(
        Kind::User,
        "department",
        "Department",
        "ORG[1]",
        tag("PidTagDepartmentName", 0x3A18),
        "department",
    ),
    phone(Kind::User),
    mobile(Kind::User),
    detail(
        Kind::User,
        "home_phone",
        "Home Phone",
        "TEL;TYPE=HOME,VOICE",
        tag("PidTagHomeTelephoneNumber", 0x3A09),
        "home phone",
    ),
    fax(Kind::User),
    email(Kind::User),
    detail(
        Kind::User,
        "email2",
        "E-mail 2 Address",
        "EMAIL;TYPE=INTERNET#2",
        lid("PidLidEmail2EmailAddress", PropSet::Address, 0x8093),
        "second e-mail address",
    ),
    street(Kind::User),
    city(Kind::User),
    region(Kind::User),
    postal_code(Kind::User),
    country(Kind::User),
    notes(Kind::User, "NOTE"),
    active(
        Kind::User,
        "inactive users leave Outlook; client users also leave while their client is inactive",
    ),
    category(
        Kind::User,
        "the client's name for client users, \"Service Agents\" for agents",
    ),
    updated_at(Kind::User),
];

static TECH: &[FieldDef] = &[
    contact_key(Kind::Tech),
    field(
        Kind::Tech,
        "company",
        Ty::Text,
        Access::Optional,
        Some("company"),
        "company (a tech entry has a company, a person, or both)",
    )
    .outlook("Company", "ORG[0]", tag("PidTagCompanyName", 0x3A16), false),
    first_name(Kind::Tech, Access::Optional),
    last_name(Kind::Tech, Access::Optional),
    phone(Kind::Tech),
    mobile(Kind::Tech),
    fax(Kind::Tech),
    email(Kind::Tech),
    web(Kind::Tech),
    notes(Kind::Tech, "NOTE"),
    category(Kind::Tech, "always \"Tech Database\""),
    updated_at(Kind::Tech),
];

static SI: &[FieldDef] = &[
    field(
        Kind::Si,
        "key",
        Ty::Text,
        Access::Auto,
        None,
        "stable key SI-<number>",
    )
    .outlook(
        "Billing Information",
        "UID",
        lid("PidLidBilling", PropSet::Common, 0x8535),
        false,
    ),
    field(
        Kind::Si,
        "number",
        Ty::Int,
        Access::Fixed { required: false },
        Some("number"),
        "SI number (the next free one when not given)",
    ),
    field(
        Kind::Si,
        "client",
        Ty::Ref(Kind::Client),
        Access::Fixed { required: true },
        Some("client_id"),
        "the client",
    )
    .csv_only("Companies", lid("PidLidCompanies", PropSet::Common, 0x8539)),
    category(Kind::Si, "the client's name"),
    field(
        Kind::Si,
        "location",
        Ty::Ref(Kind::Location),
        Access::Optional,
        Some("location_id"),
        "one of the client's locations (its Main location when not given)",
    )
    .outlook(
        "Contacts",
        "CONTACT",
        lid("PidLidContacts", PropSet::Common, 0x853A),
        true,
    ),
    field(
        Kind::Si,
        "description",
        Ty::Text,
        Access::Required,
        Some("description"),
        "what the SI is about (mandatory)",
    )
    .outlook("Subject", "SUMMARY", tag("PidTagSubject", 0x0037), true),
    notes(Kind::Si, "DESCRIPTION"),
    field(
        Kind::Si,
        "status",
        Ty::Choice(SI_STATUSES),
        Access::Optional,
        Some("status"),
        "In Progress and Completion Requested are synced; Closed goes out once as Completed",
    )
    .outlook(
        "Status",
        "STATUS",
        lid("PidLidTaskStatus", PropSet::Task, 0x8101),
        true,
    ),
    field(
        Kind::Si,
        "priority",
        Ty::Choice(PRIORITIES),
        Access::Optional,
        Some("priority"),
        "priority",
    )
    .outlook(
        "Priority",
        "PRIORITY",
        tag("PidTagImportance", 0x0017),
        true,
    ),
    field(
        Kind::Si,
        "start",
        Ty::Date,
        Access::Optional,
        Some("start_date"),
        "start date",
    )
    .outlook(
        "Start Date",
        "DTSTART;VALUE=DATE",
        lid("PidLidTaskStartDate", PropSet::Task, 0x8104),
        true,
    ),
    field(
        Kind::Si,
        "due",
        Ty::Date,
        Access::Optional,
        Some("due_date"),
        "due date (a date, never shifted by a time zone)",
    )
    .outlook(
        "Due Date",
        "DUE;VALUE=DATE",
        lid("PidLidTaskDueDate", PropSet::Task, 0x8105),
        true,
    ),
    field(
        Kind::Si,
        "completed",
        Ty::Date,
        Access::Optional,
        Some("completed_date"),
        "date closed (set when the status becomes Closed)",
    )
    .outlook(
        "Date Completed",
        "COMPLETED",
        lid("PidLidTaskDateCompleted", PropSet::Task, 0x810F),
        false,
    ),
    field(
        Kind::Si,
        "people",
        Ty::Refs(Kind::User),
        Access::Optional,
        None,
        "client users of the client and service agents on the SI",
    )
    .outlook(
        "Contacts",
        "CONTACT",
        lid("PidLidContacts", PropSet::Common, 0x853A),
        true,
    ),
    field(
        Kind::Si,
        "uid",
        Ty::Text,
        Access::Fixed { required: false },
        Some("uid"),
        "the identity a task created in Outlook came with, kept for its next export",
    ),
    updated_at(Kind::Si),
];

static EMPLOYEE: &[FieldDef] = &[
    field(
        Kind::Employee,
        "user",
        Ty::Ref(Kind::User),
        Access::Fixed { required: true },
        Some("user_id"),
        "the service agent who syncs",
    ),
    field(
        Kind::Employee,
        "profile",
        Ty::Text,
        Access::Auto,
        None,
        "the Outlook profile name: the agent's first and last name",
    ),
    field(
        Kind::Employee,
        "active",
        Ty::Bool,
        Access::Optional,
        Some("active"),
        "false stops syncing the employee: export --all, sync --all and watch pass it over \
         and leave its folder as it is",
    ),
    field(
        Kind::Employee,
        "folder",
        Ty::Text,
        Access::Auto,
        Some("folder"),
        "the profile name its drop folder was last written under; after a rename the next \
         export, sync or watch moves the folder to the new name",
    ),
    // Per-profile settings (SPEC §8): empty means the default; a command-line flag
    // overrides one for one run. `crate::profile` checks and applies them.
    setting(
        "date_format",
        Ty::Text,
        "Outlook's short-date format of CSV dates: YYYY, YY, MM, M, DD, D and separators, \
         e.g. DD.MM.YYYY (default M/D/YYYY)",
    ),
    setting(
        "csv_language",
        Ty::Choice(CSV_LANGUAGES),
        "language of the Outlook CSV headers and words (default en)",
    ),
    setting(
        "csv_encoding",
        Ty::Text,
        "encoding of the Outlook CSV files, e.g. utf-8 or windows-1252 (default utf-8)",
    ),
    setting(
        "vcard_version",
        Ty::Choice(VCARD_VERSIONS),
        "vCard version of the vdir contacts (default 3.0)",
    ),
    setting(
        "outputs",
        Ty::Text,
        "outputs to write, comma-separated: vdir, outlook, outlook-vcards (default all)",
    ),
    setting(
        "full_csv_limit",
        Ty::Int,
        "up to this many items a run that changed something rewrites the full CSV sheets \
         (default 20000)",
    ),
    setting(
        "csv_safe",
        Ty::Bool,
        "neutralise spreadsheet formulas in the CSV files (default false)",
    ),
    setting(
        "removal_guard_percent",
        Ty::Int,
        "an export that would remove more than this percentage of the profile's items (and \
         at least removal_guard_min of them) stops (default 50)",
    ),
    setting(
        "removal_guard_min",
        Ty::Int,
        "the fewest removals that can stop an export (default 20)",
    ),
    setting(
        "change_guard_percent",
        Ty::Int,
        "an ingest that would change more than this percentage of the profile's items (and \
         at least change_guard_min of them) stops (default 50)",
    ),
    setting(
        "change_guard_min",
        Ty::Int,
        "the fewest changed items that can stop an ingest (default 20)",
    ),
    setting(
        "blank_guard_max",
        Ty::Int,
        "an ingest that would blank more than this many fields stops (default 3)",
    ),
    field(
        Kind::Employee,
        "contacts_stamp",
        Ty::Stamp,
        Access::Auto,
        Some("contacts_stamp"),
        "contacts sync stamp (cleared by reset)",
    ),
    field(
        Kind::Employee,
        "tasks_stamp",
        Ty::Stamp,
        Access::Auto,
        Some("tasks_stamp"),
        "tasks sync stamp (cleared by reset)",
    ),
    updated_at(Kind::Employee),
];

/// The fields of a kind, in their canonical order.
pub fn of(kind: Kind) -> &'static [FieldDef] {
    match kind {
        Kind::Client => CLIENT,
        Kind::Location => LOCATION,
        Kind::User => USER,
        Kind::Tech => TECH,
        Kind::Si => SI,
        Kind::Employee => EMPLOYEE,
    }
}

/// Every row of the mapping, kind by kind.
pub fn all() -> impl Iterator<Item = &'static FieldDef> {
    Kind::ALL.into_iter().flat_map(|k| of(k).iter())
}

pub fn index(kind: Kind, name: &str) -> Option<usize> {
    of(kind).iter().position(|f| f.name == name)
}

pub fn get(kind: Kind, name: &str) -> Option<&'static FieldDef> {
    of(kind).iter().find(|f| f.name == name)
}

/// The names of the fields of a kind that `admin` may set, for error messages.
pub fn settable_names(kind: Kind, adding: bool) -> Vec<&'static str> {
    of(kind)
        .iter()
        .filter(|f| match f.access {
            Access::Auto => false,
            Access::Fixed { .. } => adding,
            _ => true,
        })
        .map(|f| f.name)
        .collect()
}

/// One row of the mapping as `smsync fields --json` prints it.
#[derive(Debug, Serialize)]
pub struct FieldRow {
    pub kind: &'static str,
    pub field: &'static str,
    #[serde(rename = "type")]
    pub ty: String,
    pub admin: &'static str,
    pub csv: Option<&'static str>,
    pub property: Option<&'static str>,
    pub mapi: Option<String>,
    pub updatable: bool,
    pub doc: &'static str,
}

impl From<&FieldDef> for FieldRow {
    fn from(f: &FieldDef) -> Self {
        FieldRow {
            kind: f.kind.name(),
            field: f.name,
            ty: f.ty.describe(),
            admin: f.access.describe(),
            csv: f.csv,
            property: f.prop,
            mapi: f.mapi.map(|m| m.to_string()),
            updatable: f.updatable,
            doc: f.doc,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn every_row_belongs_to_its_kind_and_names_are_unique() {
        for kind in Kind::ALL {
            let mut seen = HashSet::new();
            for f in of(kind) {
                assert_eq!(f.kind, kind, "{} listed under {kind}", f.name);
                assert!(seen.insert(f.name), "{kind}.{} twice", f.name);
                assert!(
                    f.name
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
                    "{} is not snake_case",
                    f.name
                );
            }
        }
    }

    #[test]
    fn synced_kinds_carry_key_and_category() {
        for kind in [Kind::Location, Kind::User, Kind::Tech, Kind::Si] {
            let key = get(kind, "key").expect("key");
            assert!(key.csv.is_some() && key.mapi.is_some() && !key.updatable);
            let cat = get(kind, "category").expect("category");
            assert_eq!(cat.csv, Some("Categories"));
            assert_eq!(cat.prop, Some("CATEGORIES"));
        }
        assert_eq!(get(Kind::User, "key").unwrap().csv, Some("User 1"));
        assert_eq!(
            get(Kind::Si, "key").unwrap().csv,
            Some("Billing Information")
        );
    }

    #[test]
    fn identity_fields_are_not_updatable_and_details_are() {
        for (kind, name) in [
            (Kind::User, "first_name"),
            (Kind::User, "last_name"),
            (Kind::Location, "name"),
            (Kind::Location, "client"),
            (Kind::Si, "client"),
        ] {
            assert!(!get(kind, name).unwrap().updatable, "{kind}.{name}");
        }
        for (kind, name) in [
            (Kind::User, "phone"),
            (Kind::User, "email"),
            (Kind::User, "job_title"),
            (Kind::User, "department"),
            (Kind::Location, "street"),
            (Kind::Location, "web"),
            (Kind::Tech, "notes"),
            (Kind::Si, "description"),
            (Kind::Si, "due"),
            (Kind::Si, "status"),
            (Kind::Si, "people"),
        ] {
            assert!(get(kind, name).unwrap().updatable, "{kind}.{name}");
        }
    }

    #[test]
    fn profile_settings_are_settable_employee_fields() {
        for name in PROFILE_SETTINGS {
            let f = get(Kind::Employee, name).unwrap_or_else(|| panic!("employee.{name}"));
            assert_eq!(f.access, Access::Optional, "{name}");
            assert_eq!(f.column, Some(*name), "{name}");
            assert!(!f.synced(), "{name} does not travel to Outlook");
        }
        let settable = settable_names(Kind::Employee, false);
        assert!(settable.contains(&"active"), "{settable:?}");
        assert!(PROFILE_SETTINGS.iter().all(|n| settable.contains(n)));
    }

    #[test]
    fn csv_columns_are_unique_per_kind_except_task_contacts() {
        for kind in Kind::ALL {
            let mut seen = HashSet::new();
            for f in of(kind).iter().filter_map(|f| f.csv) {
                if f == "Contacts" {
                    continue; // location and people share Outlook's task Contacts list
                }
                assert!(seen.insert(f), "{kind}: CSV column {f} twice");
            }
        }
    }
}
