//! MAPI properties ⇄ neutral items, driven by the field table's MAPI column. Named
//! properties (categories, User 1, Billing Information, task status and dates) are found
//! through the container's name-to-ID map.

use crate::codec::item::{Field, Item, Named, Seen, split_categories};
use crate::fields;
use crate::model::SiStatus;
use crate::model::{Key, Kind};

use super::props::{self, PropDef};
use super::{Filetime, MapiId, NameMap, PropType, PropValue, PropertyBag, lookup, message_class};

/// PidLidTaskStatus (MS-OXOTASK).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i32)]
pub enum TaskStatus {
    NotStarted = 0,
    InProgress = 1,
    Complete = 2,
    WaitingOnOther = 3,
    Deferred = 4,
}

impl TaskStatus {
    /// The status a stored value stands for; unknown values are "not started".
    pub fn from_value(n: i64) -> TaskStatus {
        match n {
            1 => TaskStatus::InProgress,
            2 => TaskStatus::Complete,
            3 => TaskStatus::WaitingOnOther,
            4 => TaskStatus::Deferred,
            _ => TaskStatus::NotStarted,
        }
    }

    pub fn value(self) -> i32 {
        self as i32
    }

    /// The SI status it stands for (SPEC §6).
    pub fn si_status(self) -> SiStatus {
        match self {
            TaskStatus::InProgress => SiStatus::InProgress,
            TaskStatus::Complete => SiStatus::Closed,
            TaskStatus::WaitingOnOther => SiStatus::CompletionRequested,
            TaskStatus::Deferred => SiStatus::OnHold,
            TaskStatus::NotStarted => SiStatus::New,
        }
    }

    /// The Outlook status of an SI status: Closed is complete, Completion Requested is
    /// waiting on someone else; On Hold and Cancelled are deferred.
    pub fn from_si_status(si: SiStatus) -> TaskStatus {
        match si {
            SiStatus::InProgress => TaskStatus::InProgress,
            SiStatus::Closed => TaskStatus::Complete,
            SiStatus::CompletionRequested => TaskStatus::WaitingOnOther,
            SiStatus::New => TaskStatus::NotStarted,
            SiStatus::OnHold | SiStatus::Cancelled => TaskStatus::Deferred,
        }
    }
}

/// PidTagImportance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i32)]
pub enum Importance {
    Low = 0,
    Normal = 1,
    High = 2,
}

impl Importance {
    /// The importance of a stored value; unknown values are normal.
    pub fn from_value(n: i64) -> Importance {
        match n {
            0 => Importance::Low,
            2 => Importance::High,
            _ => Importance::Normal,
        }
    }

    pub fn value(self) -> i32 {
        self as i32
    }

    /// The SI priority.
    pub fn priority(self) -> &'static str {
        match self {
            Importance::Low => "Low",
            Importance::Normal => "Normal",
            Importance::High => "High",
        }
    }

    /// The importance of an SI priority; anything but Low and High is normal.
    pub fn from_priority(p: &str) -> Importance {
        match p {
            "Low" => Importance::Low,
            "High" => Importance::High,
            _ => Importance::Normal,
        }
    }
}

/// What a message holds by the field table, for an item [`item_from_properties`] cannot
/// map (a contact with no key, say): its kind and its non-empty fields, so that `inspect`
/// shows them with the reason. `None` for a message that is neither contact nor task.
pub fn seen(props: &PropertyBag, names: &NameMap) -> Option<Seen> {
    let class = message_class(props);
    let (kind, table) = if class.starts_with("IPM.Task") {
        ("task", Kind::Si)
    } else if class.starts_with("IPM.Contact") {
        ("contact", Kind::User)
    } else {
        return None;
    };
    let mut fields = Vec::new();
    for f in fields::of(table) {
        let Some(text) = f
            .mapi
            .and_then(|m| lookup(props, names, m.id))
            .and_then(PropValue::text)
        else {
            continue;
        };
        if !text.trim().is_empty() && !fields.iter().any(|(n, _): &(String, String)| n == f.name) {
            fields.push((f.name.to_string(), text));
        }
    }
    if let Some(name) = props
        .get(&props::PID_TAG_DISPLAY_NAME.tag_id())
        .and_then(PropValue::text)
        .filter(|n| !n.trim().is_empty())
    {
        fields.insert(0, ("display_name".to_string(), name));
    }
    Some(Seen { kind, fields })
}

/// The contact (IPM.Contact) or task (IPM.Task) a message's properties hold, by the field
/// table's MAPI column; `names` is its container's name-to-ID map. Refused: other classes,
/// a key that is not a Service Master key of the right kind, and contacts without a key.
pub fn item_from_properties(
    props: &PropertyBag,
    names: &NameMap,
) -> std::result::Result<Item, String> {
    let get = |id: MapiId| lookup(props, names, id);
    let class = message_class(props);
    let task = class.starts_with("IPM.Task");
    if !task && !class.starts_with("IPM.Contact") {
        return Err(format!(
            "the item is {}, neither a contact (IPM.Contact) nor a task (IPM.Task)",
            if class.is_empty() {
                "of no class"
            } else {
                &class
            }
        ));
    }
    let key_field = if task {
        fields::get(Kind::Si, "key")
    } else {
        fields::get(Kind::User, "key")
    }
    .expect("key field");
    let raw_key = key_field
        .mapi
        .and_then(|m| get(m.id))
        .and_then(PropValue::text)
        .unwrap_or_default();
    let raw_key = raw_key.trim();
    let key: Option<Key> = if raw_key.is_empty() {
        None
    } else {
        Some(raw_key.parse().map_err(|_| {
            format!(
                "{} holds '{raw_key}', which is not a Service Master key",
                key_field.csv.unwrap_or("key")
            )
        })?)
    };
    let kind = match (task, key) {
        (true, Some(k)) if k.kind != Kind::Si => {
            return Err(format!(
                "Billing Information holds {k}, which is not an SI key"
            ));
        }
        (true, _) => Kind::Si,
        (false, None) => {
            let name = props
                .get(&props::PID_TAG_DISPLAY_NAME.tag_id())
                .and_then(PropValue::text)
                .unwrap_or_default();
            let who = if name.is_empty() {
                "the contact".to_string()
            } else {
                format!("contact '{name}'")
            };
            return Err(format!(
                "{who} has no key in User 1: new contacts cannot be created in Outlook; edit \
                 a contact that smsync exported"
            ));
        }
        (false, Some(k)) if !k.kind.is_contact() => {
            return Err(format!("User 1 holds {k}, which is not a contact's key"));
        }
        (false, Some(k)) => k.kind,
    };
    let mut values = Vec::new();
    for f in fields::of(kind) {
        let Some(m) = f.mapi else { continue };
        if f.name == "key" {
            continue;
        }
        let p = get(m.id);
        let field = match (f.name, p) {
            ("category", p) => Some(Field::List(match p {
                Some(PropValue::Texts(v)) => v.iter().flat_map(|c| split_categories(c)).collect(),
                Some(PropValue::Text(s)) => split_categories(s),
                _ => Vec::new(),
            })),
            ("status", Some(PropValue::Int(n))) => Some(Field::Text(
                TaskStatus::from_value(*n).si_status().as_str().into(),
            )),
            ("priority", Some(PropValue::Int(n))) => {
                Some(Field::Text(Importance::from_value(*n).priority().into()))
            }
            ("location" | "people", p) => Some(Field::Names(match p {
                Some(PropValue::Texts(v)) => v
                    .iter()
                    .map(|n| Named {
                        key: None,
                        name: n.clone(),
                    })
                    .collect(),
                _ => Vec::new(),
            })),
            (_, Some(PropValue::Time(t))) => t.to_date().map(Field::Date),
            (_, Some(p)) => p.text().map(Field::Text),
            // A property the item lacks is an empty value for a contact; a task's absent
            // dates and status are not carried.
            (_, None) if kind != Kind::Si => Some(Field::Text(String::new())),
            (_, None) => None,
        };
        if let Some(v) = field {
            values.push((f, v));
        }
    }
    Ok(Item {
        kind,
        key,
        uid: None,
        values,
        modified: props
            .get(&props::PID_TAG_LAST_MODIFICATION_TIME.tag_id())
            .and_then(|p| match p {
                PropValue::Time(t) => Some(t.to_micros()),
                _ => None,
            }),
    })
}

/// Whether a property holds several texts (`PtypMultipleString`). Asked for every field
/// of every item a PST holds: the few such properties are listed once.
fn is_multi(id: MapiId) -> bool {
    static MULTI: std::sync::OnceLock<Vec<MapiId>> = std::sync::OnceLock::new();
    MULTI
        .get_or_init(|| {
            props::ALL
                .iter()
                .filter(|d| d.ty == PropType::MvUnicode)
                .map(|d| d.id())
                .collect()
        })
        .contains(&id)
}

/// The MAPI properties of an item, as a writer stores them: the message class, the key
/// (User 1 or Billing Information), every value with a MAPI property in the field table,
/// the last change, and what Outlook derives from them (display name, file-as, e-mail
/// display names and address types; task completion). A task's location and people share
/// PidLidContacts (location first, as the CSV writer joins them; a name is listed once). The
/// UID is not carried.
/// [`item_from_properties`] reads the item back.
pub fn properties_of(item: &Item) -> Vec<(MapiId, PropValue)> {
    use PropValue::{Bool, Double, Int, Text, Texts, Time};
    let task = item.kind == Kind::Si;
    let mut out: Vec<(MapiId, PropValue)> = vec![(
        props::PID_TAG_MESSAGE_CLASS.id(),
        Text(if task { "IPM.Task" } else { "IPM.Contact" }.into()),
    )];
    let put = |out: &mut Vec<(MapiId, PropValue)>, def: PropDef, v: PropValue| {
        out.push((def.id(), v));
    };
    if let (Some(key), Some(m)) = (item.key, fields::get(item.kind, "key").and_then(|f| f.mapi)) {
        out.push((m.id, Text(key.to_string())));
    }
    // A contact's name, also shown with each of its e-mail addresses.
    let name = if task {
        String::new()
    } else {
        item.display_name()
    };
    if !task {
        if !name.is_empty() {
            put(&mut out, props::PID_TAG_DISPLAY_NAME, Text(name.clone()));
        }
        let file_as = match (item.text("last_name"), item.text("first_name")) {
            (Some(l), Some(f)) if !l.is_empty() && !f.is_empty() => format!("{l}, {f}"),
            _ => name.clone(),
        };
        if !file_as.is_empty() {
            put(&mut out, props::PID_LID_FILE_UNDER, Text(file_as));
        }
    }
    // Where PidLidContacts goes in `out`, once a task's location or people have names.
    let mut contacts: Option<usize> = None;
    for (f, v) in &item.values {
        let Some(m) = f.mapi else { continue };
        if f.name == "key" {
            continue;
        }
        let multi = is_multi(m.id);
        let value = match (f.name, v) {
            ("status", Field::Text(s)) => {
                let status = s
                    .parse()
                    .map_or(TaskStatus::Deferred, TaskStatus::from_si_status);
                let done = status == TaskStatus::Complete;
                out.push((m.id, Int(status.value().into())));
                put(&mut out, props::PID_LID_TASK_COMPLETE, Bool(done));
                let percent = if done { 1.0 } else { 0.0 };
                put(&mut out, props::PID_LID_PERCENT_COMPLETE, Double(percent));
                continue;
            }
            ("priority", Field::Text(p)) => Int(Importance::from_priority(p).value().into()),
            (_, Field::Names(ns)) => {
                let i = *contacts.get_or_insert_with(|| {
                    out.push((m.id, Texts(Vec::new())));
                    out.len() - 1
                });
                if let (_, Texts(all)) = &mut out[i] {
                    for n in ns {
                        if !all.contains(&n.name) {
                            all.push(n.name.clone());
                        }
                    }
                }
                continue;
            }
            (_, Field::List(l)) => Texts(l.clone()),
            (_, Field::Date(d)) => match Filetime::from_date(*d) {
                Some(t) => Time(t),
                None => continue,
            },
            (_, Field::Text(s)) if multi => Texts(vec![s.clone()]),
            (_, Field::Text(s)) => Text(s.clone()),
        };
        out.push((m.id, value));
        if !task && (f.name == "email" || f.name == "email2") {
            let Text(addr) = &out[out.len() - 1].1 else {
                continue;
            };
            if addr.is_empty() {
                continue;
            }
            let addr = addr.clone();
            let (display, kind, original) = if f.name == "email" {
                (
                    props::PID_LID_EMAIL1_DISPLAY_NAME,
                    props::PID_LID_EMAIL1_ADDRESS_TYPE,
                    props::PID_LID_EMAIL1_ORIGINAL_DISPLAY_NAME,
                )
            } else {
                (
                    props::PID_LID_EMAIL2_DISPLAY_NAME,
                    props::PID_LID_EMAIL2_ADDRESS_TYPE,
                    props::PID_LID_EMAIL2_ORIGINAL_DISPLAY_NAME,
                )
            };
            // As Outlook shows it and the CSV writer writes it: "Name (address)".
            let shown = format!("{name} ({addr})");
            put(&mut out, display, Text(shown));
            put(&mut out, kind, Text("SMTP".into()));
            put(&mut out, original, Text(addr));
        }
    }
    if let Some(t) = item.modified.and_then(Filetime::from_micros) {
        put(&mut out, props::PID_TAG_LAST_MODIFICATION_TIME, Time(t));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fields::FieldDef;
    use crate::mapi::{PropSet, bag_of};
    use chrono::NaiveDate;

    fn def(kind: Kind, name: &str) -> &'static FieldDef {
        fields::get(kind, name).unwrap()
    }

    fn text(kind: Kind, name: &str, v: &str) -> (&'static FieldDef, Field) {
        (def(kind, name), Field::Text(v.into()))
    }

    /// A client user with every field that has a MAPI property, in table order.
    fn contact() -> Item {
        let k = Kind::User;
        let mut values = Vec::new();
        for f in fields::of(k).iter().filter(|f| f.mapi.is_some()) {
            let v = match f.name {
                "key" => continue,
                "client" => "Müller & Söhne GmbH",
                "first_name" => "Jürgen",
                "last_name" => "Øster-Łukasz",
                "job_title" => "Leiter Einkauf",
                "department" => "Einkauf — Zentrale",
                "phone" => "+49 30 1234-0",
                "mobile" => "+49 170 555 0101",
                "home_phone" => "",
                "fax" => "+49 30 1234-99",
                "email" => "juergen@müller.example",
                "email2" => "j.oster@example.com",
                "street" => "Straße des 17. Juni 1",
                "city" => "Berlin",
                "region" => "BE",
                "postal_code" => "10623",
                "country" => "Deutschland",
                "notes" => "Erster Absatz\r\nZweiter Absatz: 日本語 ✓",
                "category" => {
                    values.push((
                        f,
                        Field::List(vec!["Müller & Söhne GmbH".into(), "!Update".into()]),
                    ));
                    continue;
                }
                other => panic!("a contact field {other} the test does not fill"),
            };
            values.push((f, Field::Text(v.into())));
        }
        Item {
            kind: k,
            key: Some(Key::new(k, 42)),
            uid: None,
            values,
            modified: Some(1_773_500_966_123_456),
        }
    }

    /// A task as the readers give one: the task's contacts in both location and people.
    fn task() -> Item {
        let k = Kind::Si;
        let date = |y, m, d| Field::Date(NaiveDate::from_ymd_opt(y, m, d).unwrap());
        let contacts = Field::Names(
            ["Zentrale Köln", "Jürgen Øster-Łukasz"]
                .into_iter()
                .map(|n| Named {
                    key: None,
                    name: n.into(),
                })
                .collect(),
        );
        Item {
            kind: k,
            key: Some(Key::new(k, 1001)),
            uid: None,
            values: vec![
                text(k, "client", "Müller & Söhne GmbH"),
                (
                    def(k, "category"),
                    Field::List(vec!["Müller & Söhne GmbH".into()]),
                ),
                (def(k, "location"), contacts.clone()),
                text(k, "description", "Drucker im 2. OG tauschen — dringend"),
                text(k, "notes", "Toner leer; Fach 3 klemmt.\nRückruf: 日本"),
                text(k, "status", "Completion Requested"),
                text(k, "priority", "High"),
                (def(k, "start"), date(2026, 3, 14)),
                (def(k, "due"), date(2026, 12, 31)),
                (def(k, "completed"), date(1999, 1, 1)),
                (def(k, "people"), contacts),
            ],
            modified: Some(-86_400_000_000),
        }
    }

    fn round_trip(item: &Item) -> Item {
        let mut names = NameMap::new();
        let bag = bag_of(properties_of(item), &mut names);
        item_from_properties(&bag, &names).unwrap()
    }

    fn find(props: &[(MapiId, PropValue)], def: PropDef) -> Option<&PropValue> {
        props.iter().find(|(id, _)| *id == def.id()).map(|(_, v)| v)
    }

    #[test]
    fn a_contact_comes_back_the_same() {
        let c = contact();
        assert_eq!(round_trip(&c), c);
    }

    #[test]
    fn a_task_comes_back_the_same() {
        let t = task();
        assert_eq!(round_trip(&t), t);
    }

    #[test]
    fn every_status_and_priority_comes_back() {
        for status in [
            "New",
            "In Progress",
            "Completion Requested",
            "Closed",
            "On Hold",
        ] {
            for priority in ["Low", "Normal", "High"] {
                let mut t = task();
                for (f, v) in &mut t.values {
                    match f.name {
                        "status" => *v = Field::Text(status.into()),
                        "priority" => *v = Field::Text(priority.into()),
                        _ => {}
                    }
                }
                assert_eq!(round_trip(&t), t, "{status} {priority}");
            }
        }
    }

    #[test]
    fn a_contact_carries_what_outlook_shows() {
        let p = properties_of(&contact());
        let text = |d| find(&p, d).and_then(PropValue::text);
        assert_eq!(
            find(&p, props::PID_TAG_MESSAGE_CLASS),
            Some(&PropValue::Text("IPM.Contact".into()))
        );
        assert_eq!(
            text(props::PID_LID_CONTACT_USER_FIELD1).as_deref(),
            Some("SM-U42")
        );
        assert_eq!(
            text(props::PID_TAG_DISPLAY_NAME).as_deref(),
            Some("Jürgen Øster-Łukasz")
        );
        assert_eq!(
            text(props::PID_LID_FILE_UNDER).as_deref(),
            Some("Øster-Łukasz, Jürgen")
        );
        assert_eq!(
            text(props::PID_LID_EMAIL1_DISPLAY_NAME).as_deref(),
            Some("Jürgen Øster-Łukasz (juergen@müller.example)")
        );
        assert_eq!(
            text(props::PID_LID_EMAIL1_ADDRESS_TYPE).as_deref(),
            Some("SMTP")
        );
        assert_eq!(
            text(props::PID_LID_EMAIL1_ORIGINAL_DISPLAY_NAME).as_deref(),
            Some("juergen@müller.example")
        );
        assert_eq!(
            text(props::PID_LID_EMAIL2_ADDRESS_TYPE).as_deref(),
            Some("SMTP")
        );
        assert_eq!(
            find(&p, props::PID_NAME_KEYWORDS),
            Some(&PropValue::Texts(vec![
                "Müller & Söhne GmbH".into(),
                "!Update".into()
            ]))
        );
        assert_eq!(
            find(&p, props::PID_TAG_LAST_MODIFICATION_TIME),
            Some(&PropValue::Time(Filetime(134_179_745_661_234_560)))
        );
        // Every property is one this module defines, with the type it defines.
        for (id, v) in &p {
            let d = props::def_of(*id).unwrap_or_else(|| panic!("{id:?} undefined"));
            assert_eq!(v.prop_type(), d.ty, "{}", d.mapi);
        }
        // No e-mail, no e-mail display name.
        let mut c = contact();
        c.values.retain(|(f, _)| f.name != "email2");
        let p = properties_of(&c);
        assert!(find(&p, props::PID_LID_EMAIL2_ADDRESS_TYPE).is_none());
        assert!(find(&p, props::PID_LID_EMAIL1_ADDRESS_TYPE).is_some());
    }

    #[test]
    fn a_task_carries_status_completion_dates_and_its_key_in_billing() {
        let p = properties_of(&task());
        assert_eq!(
            find(&p, props::PID_TAG_MESSAGE_CLASS),
            Some(&PropValue::Text("IPM.Task".into()))
        );
        assert_eq!(
            find(&p, props::PID_LID_BILLING),
            Some(&PropValue::Text("SI-1001".into()))
        );
        assert_eq!(
            find(&p, props::PID_LID_TASK_STATUS),
            Some(&PropValue::Int(3))
        );
        assert_eq!(
            find(&p, props::PID_LID_TASK_COMPLETE),
            Some(&PropValue::Bool(false))
        );
        assert_eq!(
            find(&p, props::PID_TAG_IMPORTANCE),
            Some(&PropValue::Int(2))
        );
        assert_eq!(
            find(&p, props::PID_LID_TASK_START_DATE),
            Some(&PropValue::Time(Filetime(134_179_200_000_000_000)))
        );
        assert_eq!(
            find(&p, props::PID_LID_COMPANIES),
            Some(&PropValue::Texts(vec!["Müller & Söhne GmbH".into()]))
        );
        // Location and people share one PidLidContacts, location first.
        assert_eq!(
            p.iter()
                .filter(|(id, _)| *id == props::PID_LID_CONTACTS.id())
                .count(),
            1
        );
        let mut t = task();
        for (f, v) in &mut t.values {
            match f.name {
                "location" => {
                    *v = Field::Names(vec![Named {
                        key: Some(Key::new(Kind::Location, 3)),
                        name: "Zentrale Köln".into(),
                    }])
                }
                "people" => {
                    *v = Field::Names(vec![Named {
                        key: Some(Key::new(Kind::User, 42)),
                        name: "Jürgen Øster-Łukasz".into(),
                    }])
                }
                "status" => *v = Field::Text("Closed".into()),
                _ => {}
            }
        }
        let p = properties_of(&t);
        assert_eq!(
            find(&p, props::PID_LID_CONTACTS),
            Some(&PropValue::Texts(vec![
                "Zentrale Köln".into(),
                "Jürgen Øster-Łukasz".into()
            ]))
        );
        assert_eq!(
            find(&p, props::PID_LID_TASK_STATUS),
            Some(&PropValue::Int(2))
        );
        assert_eq!(
            find(&p, props::PID_LID_TASK_COMPLETE),
            Some(&PropValue::Bool(true))
        );
        assert_eq!(
            find(&p, props::PID_LID_PERCENT_COMPLETE),
            Some(&PropValue::Double(1.0))
        );
        for (id, v) in &p {
            let d = props::def_of(*id).unwrap_or_else(|| panic!("{id:?} undefined"));
            assert_eq!(v.prop_type(), d.ty, "{}", d.mapi);
        }
    }

    #[test]
    fn task_statuses_are_outlooks_numbers() {
        for (si, n) in [
            ("New", 0),
            ("In Progress", 1),
            ("Closed", 2),
            ("Completion Requested", 3),
            ("On Hold", 4),
            ("Cancelled", 4),
        ] {
            let si: SiStatus = si.parse().unwrap();
            assert_eq!(TaskStatus::from_si_status(si).value(), n, "{si}");
        }
        assert_eq!(
            TaskStatus::from_value(3).si_status(),
            SiStatus::CompletionRequested
        );
        assert_eq!(TaskStatus::from_value(99).si_status(), SiStatus::New);
        assert_eq!(Importance::from_value(7).priority(), "Normal");
    }

    #[test]
    fn a_reader_finds_named_properties_under_the_containers_own_ids() {
        // Keywords under 0x8123 in this container; the same ID under another name is not it.
        let mut names = NameMap::new();
        names.insert(
            PropSet::PublicStrings.guid(),
            super::super::NameKey::Name("Keywords".into()),
            0x8123,
        );
        names.insert(
            PropSet::Address.guid(),
            super::super::NameKey::Lid(0x804F),
            0x8007,
        );
        let mut bag = PropertyBag::new();
        bag.insert(0x001A, PropValue::Text("IPM.Contact.Custom".into()));
        bag.insert(0x8007, PropValue::Text(" SM-T7 ".into()));
        bag.insert(0x8123, PropValue::Text("Tech Database; !Update".into()));
        bag.insert(0x3A08, PropValue::Text("+1 555".into()));
        let item = item_from_properties(&bag, &names).unwrap();
        assert_eq!(item.key, Some(Key::new(Kind::Tech, 7)));
        assert_eq!(item.categories(), ["Tech Database", "!Update"]);
        assert_eq!(item.text("phone"), Some("+1 555"));
        assert_eq!(item.text("fax"), Some(""), "absent: empty for a contact");
        assert_eq!(item.modified, None);
        // Without the map entry, User 1 is not found.
        let e = item_from_properties(&bag, &NameMap::new()).unwrap_err();
        assert!(e.contains("no key in User 1"), "{e}");
    }

    #[test]
    fn wrong_classes_and_keys_are_refused_with_reasons() {
        let mut names = NameMap::new();
        let billing = names.assign(props::PID_LID_BILLING.id()).unwrap();
        let user1 = names
            .assign(props::PID_LID_CONTACT_USER_FIELD1.id())
            .unwrap();
        let refuse = |props: &[(u16, PropValue)]| {
            let bag: PropertyBag = props.iter().cloned().collect();
            item_from_properties(&bag, &names).unwrap_err()
        };
        let class = |c: &str| (0x001A, PropValue::Text(c.into()));
        assert!(refuse(&[class("IPM.Note")]).contains("the item is IPM.Note"));
        assert!(refuse(&[]).contains("of no class"));
        let e = refuse(&[class("IPM.Task"), (billing, PropValue::Text("x".into()))]);
        assert!(e.contains("Billing Information holds 'x'"), "{e}");
        let e = refuse(&[
            class("IPM.Task"),
            (billing, PropValue::Text("SM-U1".into())),
        ]);
        assert!(e.contains("not an SI key"), "{e}");
        let e = refuse(&[
            class("IPM.Contact"),
            (user1, PropValue::Text("SI-1".into())),
        ]);
        assert!(e.contains("not a contact's key"), "{e}");
        let e = refuse(&[
            class("IPM.Contact"),
            (0x3001, PropValue::Text("Ada Ö".into())),
        ]);
        assert!(e.contains("contact 'Ada Ö' has no key in User 1"), "{e}");
    }
}
