//! Outlook `.msg` files (MS-OXMSG: a message's MAPI properties in a compound file, read with
//! the `cfb` crate): contacts (IPM.Contact) and tasks (IPM.Task) as neutral items. This module
//! reads the compound file's property stream and name-to-id map; [`crate::mapi`] maps the
//! properties to an item.

use std::io::{Cursor, Read, Seek};

use super::item::{Incoming, Item};
use crate::mapi::{
    self, Filetime, Guid, MapiId, NameKey, NameMap, PropSet, PropType, PropValue, PropertyBag,
};

/// A .msg file's properties: tagged ones by id, named ones under the ids of its own map.
#[derive(Debug, Default)]
pub struct Message {
    pub props: PropertyBag,
    pub names: NameMap,
}

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

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    b.get(at..at + 4)
        .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

/// Windows-1252 text as a .msg stores PT_STRING8, without its terminating NULs.
fn ansi(bytes: &[u8]) -> String {
    let (t, _, _) = encoding_rs::WINDOWS_1252.decode(bytes);
    t.trim_end_matches('\0').to_string()
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
            let (id, ty) = mapi::split_tag(u32::from_le_bytes([e[0], e[1], e[2], e[3]]));
            let v = &e[8..16];
            let int = |n: usize| {
                let mut a = [0u8; 8];
                a[..n].copy_from_slice(&v[..n]);
                i64::from_le_bytes(a)
            };
            let stream = |cf: &mut cfb::CompoundFile<Cursor<&[u8]>>| {
                read_stream(cf, &format!("/__substg1.0_{id:04X}{ty:04X}"))
            };
            let Some(ty) = PropType::from_code(ty) else {
                continue;
            };
            let prop = match ty {
                PropType::Short => Some(PropValue::Int(int(2) as i16 as i64)),
                PropType::Long => Some(PropValue::Int(int(4) as i32 as i64)),
                PropType::LongLong => Some(PropValue::Int(int(8))),
                PropType::Boolean => Some(PropValue::Bool(v[0] != 0)),
                PropType::SysTime => Some(PropValue::Time(Filetime(int(8) as u64))),
                PropType::Unicode => stream(&mut cf).map(|b| PropValue::Text(utf16(&b))),
                PropType::String8 => stream(&mut cf).map(|b| PropValue::Text(ansi(&b))),
                PropType::Binary => stream(&mut cf).map(PropValue::Binary),
                PropType::MvUnicode | PropType::MvString8 => {
                    let mut values = Vec::new();
                    for i in 0.. {
                        let path = format!("/__substg1.0_{id:04X}{:04X}-{i:08X}", ty.code());
                        let Some(b) = read_stream(&mut cf, &path) else {
                            break;
                        };
                        values.push(if ty == PropType::MvUnicode {
                            utf16(&b)
                        } else {
                            ansi(&b)
                        });
                    }
                    Some(PropValue::Texts(values))
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
            let guid = match guid_index {
                1 => PropSet::Mapi.guid(),
                2 => PropSet::PublicStrings.guid(),
                n => match n
                    .checked_sub(3)
                    .and_then(|i| guids.get(i * 16..i * 16 + 16))
                    .and_then(Guid::from_slice)
                {
                    Some(g) => g,
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
                .insert(guid, key, mapi::FIRST_NAMED_ID.wrapping_add(prop_index));
        }
    }

    /// The value of a property named by the field table's MAPI column.
    pub fn get(&self, id: MapiId) -> Option<&PropValue> {
        mapi::lookup(&self.props, &self.names, id)
    }

    pub fn class(&self) -> String {
        mapi::message_class(&self.props)
    }
}

/// The item of a .msg file (one per file).
pub fn read(bytes: &[u8]) -> std::result::Result<Vec<Incoming>, String> {
    let msg = Message::parse(bytes)?;
    let item = item(&msg);
    Ok(vec![Incoming {
        seen: item
            .is_err()
            .then(|| mapi::seen(&msg.props, &msg.names))
            .flatten(),
        source: "item 1".into(),
        item,
    }])
}

/// The contact or task a message holds ([`mapi::item_from_properties`]).
pub fn item(msg: &Message) -> std::result::Result<Item, String> {
    mapi::item_from_properties(&msg.props, &msg.names)
}
