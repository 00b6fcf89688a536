//! Outlook `.msg` files (MS-OXMSG: a message's MAPI properties in a compound file, read with
//! the `cfb` crate): contacts (IPM.Contact) and tasks (IPM.Task) as neutral items. Named
//! properties (categories, User 1, Billing Information, task status and dates) are resolved
//! through the file's own name-to-id map, then matched to fields by the field table's MAPI
//! column.

use std::collections::HashMap;
use std::io::{Cursor, Read, Seek};

use chrono::DateTime;

use super::item::{Field, Incoming, Item, Named, split_categories};
use crate::fields::{self, MapiId, PropSet};
use crate::model::{Key, Kind};

/// One property value as stored.
#[derive(Debug, Clone, PartialEq)]
pub enum Prop {
    Int(i64),
    Bool(bool),
    /// FILETIME as microseconds since the Unix epoch.
    Time(i64),
    Text(String),
    Texts(Vec<String>),
    Binary(Vec<u8>),
}

impl Prop {
    fn text(&self) -> Option<String> {
        match self {
            Prop::Text(s) => Some(s.clone()),
            Prop::Texts(v) => Some(v.join("; ")),
            _ => None,
        }
    }
}

/// A .msg file's properties: tagged ones by id, named ones resolved to (set, id or name).
#[derive(Debug, Default)]
pub struct Message {
    pub props: HashMap<u16, Prop>,
    /// Named property (GUID key, number or name) → property id in this file or store.
    pub names: HashMap<(String, NameKey), u16>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum NameKey {
    Lid(u32),
    Name(String),
}

/// The GUID of a property set in its on-disk byte order.
pub fn guid_bytes(set: PropSet) -> [u8; 16] {
    let s: String = set.guid().chars().filter(|c| *c != '-').collect();
    let hex: Vec<u8> = (0..16)
        .map(|i| u8::from_str_radix(&s[i * 2..i * 2 + 2], 16).expect("guid in table"))
        .collect();
    let mut out = [0u8; 16];
    // Data1, Data2 and Data3 are little-endian; Data4 is a byte string.
    out[..4].copy_from_slice(&[hex[3], hex[2], hex[1], hex[0]]);
    out[4..6].copy_from_slice(&[hex[5], hex[4]]);
    out[6..8].copy_from_slice(&[hex[7], hex[6]]);
    out[8..].copy_from_slice(&hex[8..]);
    out
}

pub fn guid_key(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub const PS_MAPI: [u8; 16] = [
    0x28, 0x03, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0xC0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x46,
];

fn read_stream<F: Read + Seek>(cf: &mut cfb::CompoundFile<F>, path: &str) -> Option<Vec<u8>> {
    let mut s = cf.open_stream(path).ok()?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).ok()?;
    Some(buf)
}

fn utf16(bytes: &[u8]) -> String {
    let units: Vec<u16> = bytes
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    String::from_utf16_lossy(&units)
        .trim_end_matches('\0')
        .to_string()
}

pub fn filetime_micros(ft: u64) -> i64 {
    // 100 ns intervals since 1601-01-01.
    (ft / 10) as i64 - 11_644_473_600_000_000
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    b.get(at..at + 4)
        .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

impl Message {
    /// Reads the top-level message of a .msg file.
    pub fn parse(bytes: &[u8]) -> std::result::Result<Message, String> {
        let mut cf = cfb::CompoundFile::open(Cursor::new(bytes))
            .map_err(|e| format!("not a readable Outlook item (.msg): {e}"))?;
        let table = read_stream(&mut cf, "/__properties_version1.0")
            .ok_or("no property stream: not an Outlook item (.msg)")?;
        let mut msg = Message::default();
        // The top-level header is 32 bytes; then 16-byte entries.
        for e in table.get(32..).unwrap_or(&[]).chunks_exact(16) {
            let tag = u32::from_le_bytes([e[0], e[1], e[2], e[3]]);
            let (id, ty) = ((tag >> 16) as u16, (tag & 0xFFFF) as u16);
            let v = &e[8..16];
            let int = |n: usize| {
                let mut a = [0u8; 8];
                a[..n].copy_from_slice(&v[..n]);
                i64::from_le_bytes(a)
            };
            let stream = |cf: &mut cfb::CompoundFile<Cursor<&[u8]>>, ty: u16| {
                read_stream(cf, &format!("/__substg1.0_{id:04X}{ty:04X}"))
            };
            let prop = match ty {
                0x0002 => Some(Prop::Int(int(2) as i16 as i64)),
                0x0003 => Some(Prop::Int(int(4) as i32 as i64)),
                0x0014 => Some(Prop::Int(int(8))),
                0x000B => Some(Prop::Bool(v[0] != 0)),
                0x0040 => Some(Prop::Time(filetime_micros(int(8) as u64))),
                0x001F => stream(&mut cf, ty).map(|b| Prop::Text(utf16(&b))),
                0x001E => stream(&mut cf, ty).map(|b| {
                    let (t, _, _) = encoding_rs::WINDOWS_1252.decode(&b);
                    Prop::Text(t.trim_end_matches('\0').to_string())
                }),
                0x0102 => stream(&mut cf, ty).map(Prop::Binary),
                0x101F | 0x101E => {
                    let mut values = Vec::new();
                    for i in 0.. {
                        let path = format!("/__substg1.0_{id:04X}{ty:04X}-{i:08X}");
                        let Some(b) = read_stream(&mut cf, &path) else {
                            break;
                        };
                        values.push(if ty == 0x101F {
                            utf16(&b)
                        } else {
                            let (t, _, _) = encoding_rs::WINDOWS_1252.decode(&b);
                            t.trim_end_matches('\0').to_string()
                        });
                    }
                    Some(Prop::Texts(values))
                }
                _ => None,
            };
            if let Some(p) = prop {
                msg.props.insert(id, p);
            }
        }
        msg.read_names(&mut cf);
        Ok(msg)
    }

    /// The named-property map: `__nameid_version1.0` (GUIDs, entries, names).
    fn read_names<F: Read + Seek>(&mut self, cf: &mut cfb::CompoundFile<F>) {
        let dir = "/__nameid_version1.0";
        let guids = read_stream(cf, &format!("{dir}/__substg1.0_00020102")).unwrap_or_default();
        let entries = read_stream(cf, &format!("{dir}/__substg1.0_00030102")).unwrap_or_default();
        let strings = read_stream(cf, &format!("{dir}/__substg1.0_00040102")).unwrap_or_default();
        for e in entries.chunks_exact(8) {
            let (Some(name_or_offset), Some(info)) = (u32_at(e, 0), u32_at(e, 4)) else {
                continue;
            };
            let kind = info & 1;
            let guid_index = ((info >> 1) & 0x7FFF) as usize;
            let prop_index = (info >> 16) as u16;
            let guid: Vec<u8> = match guid_index {
                1 => PS_MAPI.to_vec(),
                2 => guid_bytes(PropSet::PublicStrings).to_vec(),
                n => match guids.get((n - 3) * 16..(n - 2) * 16) {
                    Some(g) => g.to_vec(),
                    None => continue,
                },
            };
            let key = if kind == 0 {
                NameKey::Lid(name_or_offset)
            } else {
                let at = name_or_offset as usize;
                let Some(len) = u32_at(&strings, at) else {
                    continue;
                };
                let Some(b) = strings.get(at + 4..at + 4 + len as usize) else {
                    continue;
                };
                NameKey::Name(utf16(b))
            };
            self.names
                .insert((guid_key(&guid), key), 0x8000u16.wrapping_add(prop_index));
        }
    }

    /// The value of a property named by the field table's MAPI column.
    pub fn get(&self, id: MapiId) -> Option<&Prop> {
        let pid = match id {
            MapiId::Tag(t) => t,
            MapiId::Lid(set, lid) => *self
                .names
                .get(&(guid_key(&guid_bytes(set)), NameKey::Lid(lid as u32)))?,
            MapiId::Name(set, name) => *self
                .names
                .get(&(guid_key(&guid_bytes(set)), NameKey::Name(name.to_string())))?,
        };
        self.props.get(&pid)
    }

    pub fn class(&self) -> String {
        self.props
            .get(&0x001A)
            .and_then(Prop::text)
            .unwrap_or_default()
    }
}

/// The SI status for PidLidTaskStatus.
fn status_of(n: i64) -> &'static str {
    match n {
        1 => "In Progress",
        2 => "Closed",
        3 => "Completion Requested",
        4 => "On Hold",
        _ => "New",
    }
}

/// The item of a .msg file (one per file).
pub fn read(bytes: &[u8]) -> std::result::Result<Vec<Incoming>, String> {
    let msg = Message::parse(bytes)?;
    Ok(vec![Incoming {
        source: "item 1".into(),
        item: item(&msg),
    }])
}

/// The contact or task a message holds, by the field table's MAPI column.
pub fn item(msg: &Message) -> std::result::Result<Item, String> {
    let class = msg.class();
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
        .and_then(|m| msg.get(m.id))
        .and_then(Prop::text)
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
            let name = msg
                .props
                .get(&0x3001)
                .and_then(Prop::text)
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
    let date = |p: &Prop| match p {
        Prop::Time(us) => DateTime::from_timestamp_micros(*us).map(|t| t.date_naive()),
        _ => None,
    };
    let mut values = Vec::new();
    for f in fields::of(kind) {
        let Some(m) = f.mapi else { continue };
        if f.name == "key" {
            continue;
        }
        let p = msg.get(m.id);
        let field = match (f.name, p) {
            ("category", p) => Some(Field::List(match p {
                Some(Prop::Texts(v)) => v.iter().flat_map(|c| split_categories(c)).collect(),
                Some(Prop::Text(s)) => split_categories(s),
                _ => Vec::new(),
            })),
            ("status", Some(Prop::Int(n))) => Some(Field::Text(status_of(*n).into())),
            ("priority", Some(Prop::Int(n))) => Some(Field::Text(
                match n {
                    0 => "Low",
                    2 => "High",
                    _ => "Normal",
                }
                .into(),
            )),
            ("location" | "people", p) => Some(Field::Names(match p {
                Some(Prop::Texts(v)) => v
                    .iter()
                    .map(|n| Named {
                        key: None,
                        name: n.clone(),
                    })
                    .collect(),
                _ => Vec::new(),
            })),
            (_, Some(p @ Prop::Time(_))) => date(p).map(Field::Date),
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
        modified: msg.props.get(&0x3008).and_then(|p| match p {
            Prop::Time(us) => Some(*us),
            _ => None,
        }),
    })
}
