//! MAPI properties ⇄ neutral items, driven by the field table's MAPI column. Named
//! properties (categories, User 1, Billing Information, task status and dates) are found
//! through the container's name-to-ID map.

use crate::codec::item::{Field, Item, Named, split_categories};
use crate::fields;
use crate::model::{Key, Kind};

use super::props;
use super::{MapiId, NameMap, PropValue, PropertyBag, lookup, message_class};

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
    pub fn si_status(self) -> &'static str {
        match self {
            TaskStatus::InProgress => "In Progress",
            TaskStatus::Complete => "Closed",
            TaskStatus::WaitingOnOther => "Completion Requested",
            TaskStatus::Deferred => "On Hold",
            TaskStatus::NotStarted => "New",
        }
    }

    /// The Outlook status of an SI status: Closed is complete, Completion Requested is
    /// waiting on someone else; On Hold and Cancelled are deferred.
    pub fn from_si_status(si: &str) -> TaskStatus {
        match si {
            "In Progress" => TaskStatus::InProgress,
            "Closed" => TaskStatus::Complete,
            "Completion Requested" => TaskStatus::WaitingOnOther,
            "New" => TaskStatus::NotStarted,
            _ => TaskStatus::Deferred,
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
            ("status", Some(PropValue::Int(n))) => {
                Some(Field::Text(TaskStatus::from_value(*n).si_status().into()))
            }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mapi::PropSet;

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
            assert_eq!(TaskStatus::from_si_status(si).value(), n, "{si}");
        }
        assert_eq!(
            TaskStatus::from_value(3).si_status(),
            "Completion Requested"
        );
        assert_eq!(TaskStatus::from_value(99).si_status(), "New");
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
