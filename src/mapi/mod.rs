//! MAPI properties (MS-OXPROPS, MS-OXCDATA) as every Outlook container uses them: the `.msg`
//! reader ([`crate::codec::msg`]), the PST reader ([`crate::codec::pst`]) and a PST writer.
//! The containers only find the properties; this module names them and maps them to and from
//! neutral items.
//!
//! - [`PropType`], [`prop_tag`]: property types and tags;
//! - [`PropSet`], [`Guid`], [`MapiId`], [`Mapi`]: property sets and how a property is
//!   identified (a tag, or a named property: set + LID or set + name), as the field table's
//!   MAPI column names them ([`tag`], [`lid`]);
//! - [`NameKey`], [`NameMap`]: a container's name-to-ID map;
//! - [`PropValue`], [`PropertyBag`]: property values as found;
//! - [`props`]: the properties smsync reads or writes, with their types;
//! - [`Filetime`]: PtypTime and its conversions;
//! - [`item_from_properties`] and [`properties_of`]: MAPI properties ⇄ neutral items;
//! - [`carried`]: what MAPI carries of an item, for comparing round trips.

use std::collections::HashMap;
use std::fmt;

mod item;
pub mod props;
mod time;
mod view;

pub use item::{Importance, TaskStatus, item_from_properties, properties_of, seen};
pub use time::Filetime;
pub use view::carried;

/// A property type (MS-OXCDATA §2.11.1), the low 16 bits of a property tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum PropType {
    /// PT_SHORT, PtypInteger16.
    Short = 0x0002,
    /// PT_LONG, PtypInteger32.
    Long = 0x0003,
    /// PT_FLOAT, PtypFloating32.
    Float = 0x0004,
    /// PT_DOUBLE, PtypFloating64.
    Double = 0x0005,
    /// PT_CURRENCY, PtypCurrency.
    Currency = 0x0006,
    /// PT_APPTIME, PtypFloatingTime.
    AppTime = 0x0007,
    /// PT_ERROR, PtypErrorCode.
    Error = 0x000A,
    /// PT_BOOLEAN, PtypBoolean.
    Boolean = 0x000B,
    /// PT_OBJECT, PtypObject.
    Object = 0x000D,
    /// PT_I8, PtypInteger64.
    LongLong = 0x0014,
    /// PT_STRING8, PtypString8 (code page text).
    String8 = 0x001E,
    /// PT_UNICODE, PtypString (UTF-16LE).
    Unicode = 0x001F,
    /// PT_SYSTIME, PtypTime ([`Filetime`]).
    SysTime = 0x0040,
    /// PT_CLSID, PtypGuid.
    Clsid = 0x0048,
    /// PT_BINARY, PtypBinary.
    Binary = 0x0102,
    /// PT_MV_SHORT.
    MvShort = 0x1002,
    /// PT_MV_LONG.
    MvLong = 0x1003,
    /// PT_MV_DOUBLE.
    MvDouble = 0x1005,
    /// PT_MV_I8.
    MvLongLong = 0x1014,
    /// PT_MV_STRING8.
    MvString8 = 0x101E,
    /// PT_MV_UNICODE, PtypMultipleString.
    MvUnicode = 0x101F,
    /// PT_MV_SYSTIME.
    MvSysTime = 0x1040,
    /// PT_MV_CLSID.
    MvClsid = 0x1048,
    /// PT_MV_BINARY.
    MvBinary = 0x1102,
}

impl PropType {
    const ALL: [PropType; 24] = [
        PropType::Short,
        PropType::Long,
        PropType::Float,
        PropType::Double,
        PropType::Currency,
        PropType::AppTime,
        PropType::Error,
        PropType::Boolean,
        PropType::Object,
        PropType::LongLong,
        PropType::String8,
        PropType::Unicode,
        PropType::SysTime,
        PropType::Clsid,
        PropType::Binary,
        PropType::MvShort,
        PropType::MvLong,
        PropType::MvDouble,
        PropType::MvLongLong,
        PropType::MvString8,
        PropType::MvUnicode,
        PropType::MvSysTime,
        PropType::MvClsid,
        PropType::MvBinary,
    ];

    /// The type's code, as in a property tag.
    pub const fn code(self) -> u16 {
        self as u16
    }

    /// The type of a code; `None` for a code this module does not know.
    pub fn from_code(code: u16) -> Option<PropType> {
        PropType::ALL.into_iter().find(|t| t.code() == code)
    }

    /// Whether values of this type are lists (the multi-value bit 0x1000).
    pub const fn is_multi(self) -> bool {
        self.code() & 0x1000 != 0
    }
}

/// A property tag: the property ID in the high 16 bits, its type in the low 16.
pub const fn prop_tag(id: u16, ty: PropType) -> u32 {
    (id as u32) << 16 | ty.code() as u32
}

/// The property ID and type code of a property tag.
pub const fn split_tag(tag: u32) -> (u16, u16) {
    ((tag >> 16) as u16, (tag & 0xFFFF) as u16)
}

/// The first property ID of named properties: a named property's ID in a container is
/// `0x8000 + ` its index in the container's name-to-ID map.
pub const FIRST_NAMED_ID: u16 = 0x8000;

/// A GUID in the byte order MAPI containers store it (Data1, Data2 and Data3
/// little-endian, Data4 as bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Guid(pub [u8; 16]);

impl Guid {
    /// The GUID `{d1-d2-d3-d4[0..2]-d4[2..8]}` in stored byte order.
    pub const fn from_fields(d1: u32, d2: u16, d3: u16, d4: [u8; 8]) -> Guid {
        let (a, b, c) = (d1.to_le_bytes(), d2.to_le_bytes(), d3.to_le_bytes());
        Guid([
            a[0], a[1], a[2], a[3], b[0], b[1], c[0], c[1], d4[0], d4[1], d4[2], d4[3], d4[4],
            d4[5], d4[6], d4[7],
        ])
    }

    /// The GUID of 16 stored bytes; `None` unless exactly 16 are given.
    pub fn from_slice(bytes: &[u8]) -> Option<Guid> {
        bytes.try_into().ok().map(Guid)
    }
}

/// The registry form, `00062004-0000-0000-C000-000000000046`.
impl fmt::Display for Guid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let g = &self.0;
        write!(
            f,
            "{:08X}-{:04X}-{:04X}-",
            u32::from_le_bytes([g[0], g[1], g[2], g[3]]),
            u16::from_le_bytes([g[4], g[5]]),
            u16::from_le_bytes([g[6], g[7]])
        )?;
        for (i, b) in g[8..].iter().enumerate() {
            if i == 2 {
                f.write_str("-")?;
            }
            write!(f, "{b:02X}")?;
        }
        Ok(())
    }
}

/// Data4 of the OLE GUIDs of MAPI's property sets.
const OLE: [u8; 8] = [0xC0, 0, 0, 0, 0, 0, 0, 0x46];

/// A MAPI property set (MS-OXPROPS).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PropSet {
    Address,
    Common,
    Task,
    PublicStrings,
    /// PS_MAPI: named properties that stand for tagged ones (index 1 of a name-to-ID map).
    Mapi,
}

impl PropSet {
    pub const ALL: [PropSet; 5] = [
        PropSet::Address,
        PropSet::Common,
        PropSet::Task,
        PropSet::PublicStrings,
        PropSet::Mapi,
    ];

    pub fn name(self) -> &'static str {
        match self {
            PropSet::Address => "PSETID_Address",
            PropSet::Common => "PSETID_Common",
            PropSet::Task => "PSETID_Task",
            PropSet::PublicStrings => "PS_PUBLIC_STRINGS",
            PropSet::Mapi => "PS_MAPI",
        }
    }

    /// The property set's GUID; its registry form is its `Display`.
    pub const fn guid(self) -> Guid {
        match self {
            PropSet::Address => Guid::from_fields(0x0006_2004, 0, 0, OLE),
            PropSet::Common => Guid::from_fields(0x0006_2008, 0, 0, OLE),
            PropSet::Task => Guid::from_fields(0x0006_2003, 0, 0, OLE),
            PropSet::PublicStrings => Guid::from_fields(0x0002_0329, 0, 0, OLE),
            PropSet::Mapi => Guid::from_fields(0x0002_0328, 0, 0, OLE),
        }
    }

    /// The set a GUID stands for, when it is one of these.
    pub fn from_guid(guid: Guid) -> Option<PropSet> {
        PropSet::ALL.into_iter().find(|s| s.guid() == guid)
    }
}

/// How a MAPI property is identified: the key a property has whatever container holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MapiId {
    /// A tagged property with a fixed id.
    Tag(u16),
    /// A named property with a numeric id (LID) in a property set.
    Lid(PropSet, u16),
    /// A named property with a string name in a property set.
    Name(PropSet, &'static str),
}

impl MapiId {
    /// The set and name of a named property; `None` for a tagged one.
    pub fn named(self) -> Option<(Guid, NameKey)> {
        match self {
            MapiId::Tag(_) => None,
            MapiId::Lid(set, lid) => Some((set.guid(), NameKey::Lid(lid as u32))),
            MapiId::Name(set, name) => Some((set.guid(), NameKey::Name(name.to_string()))),
        }
    }
}

/// A MAPI property as the field table names it: its MS-OXPROPS name and its id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mapi {
    pub name: &'static str,
    pub id: MapiId,
}

impl fmt::Display for Mapi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.id {
            MapiId::Tag(t) => write!(f, "{} (0x{t:04X})", self.name),
            MapiId::Lid(set, id) => write!(f, "{} ({} 0x{id:04X})", self.name, set.name()),
            MapiId::Name(set, n) => write!(f, "{} ({} \"{n}\")", self.name, set.name()),
        }
    }
}

/// A tagged property.
pub const fn tag(name: &'static str, id: u16) -> Mapi {
    Mapi {
        name,
        id: MapiId::Tag(id),
    }
}

/// A named property with a numeric id in a property set.
pub const fn lid(name: &'static str, set: PropSet, id: u16) -> Mapi {
    Mapi {
        name,
        id: MapiId::Lid(set, id),
    }
}

/// A named property's name within its set: a number (LID) or a string.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NameKey {
    Lid(u32),
    Name(String),
}

/// A container's name-to-ID map: named property (set GUID, name) → property ID in that
/// container. Readers fill it from the container; a writer assigns IDs with
/// [`NameMap::assign`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NameMap(HashMap<(Guid, NameKey), u16>);

impl NameMap {
    pub fn new() -> NameMap {
        NameMap::default()
    }

    /// Records that the named property has this ID (a later entry for the same name wins).
    pub fn insert(&mut self, guid: Guid, key: NameKey, id: u16) {
        self.0.insert((guid, key), id);
    }

    /// The ID of a property in this container: a tag's own, a named property's from the
    /// map (`None` when the container does not name it).
    pub fn id_of(&self, id: MapiId) -> Option<u16> {
        match id {
            MapiId::Tag(t) => Some(t),
            named => self.0.get(&named.named()?).copied(),
        }
    }

    /// The ID of a property, assigning the next free named-property ID (from
    /// [`FIRST_NAMED_ID`]) to a named property not yet in the map; `None` when the 32,768
    /// named IDs are used up.
    pub fn assign(&mut self, id: MapiId) -> Option<u16> {
        let Some(key) = id.named() else {
            return self.id_of(id);
        };
        if let Some(&n) = self.0.get(&key) {
            return Some(n);
        }
        let next = match self.0.values().max() {
            None => FIRST_NAMED_ID,
            Some(&max) => max.max(FIRST_NAMED_ID - 1).checked_add(1)?,
        };
        self.0.insert(key, next);
        Some(next)
    }

    /// The entries by property ID: the order of a name-to-ID map's entry stream.
    pub fn entries(&self) -> Vec<(u16, &Guid, &NameKey)> {
        let mut v: Vec<_> = self.0.iter().map(|((g, k), id)| (*id, g, k)).collect();
        v.sort();
        v
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// One property value as found. Readers fold the integer types into `Int` and the text
/// types into `Text`/`Texts`; a writer stores each variant as [`PropValue::prop_type`].
#[derive(Debug, Clone, PartialEq)]
pub enum PropValue {
    Int(i64),
    Bool(bool),
    Double(f64),
    Time(Filetime),
    Text(String),
    Texts(Vec<String>),
    Binary(Vec<u8>),
}

impl PropValue {
    /// The value as text: a list joined with "; ".
    pub fn text(&self) -> Option<String> {
        match self {
            PropValue::Text(s) => Some(s.clone()),
            PropValue::Texts(v) => Some(v.join("; ")),
            _ => None,
        }
    }

    /// The type a writer stores the value as (integers as PT_LONG, text as Unicode).
    pub fn prop_type(&self) -> PropType {
        match self {
            PropValue::Int(_) => PropType::Long,
            PropValue::Bool(_) => PropType::Boolean,
            PropValue::Double(_) => PropType::Double,
            PropValue::Time(_) => PropType::SysTime,
            PropValue::Text(_) => PropType::Unicode,
            PropValue::Texts(_) => PropType::MvUnicode,
            PropValue::Binary(_) => PropType::Binary,
        }
    }
}

/// A message's properties by property ID in its container: tagged properties under their
/// own IDs, named ones under the IDs of the container's [`NameMap`].
pub type PropertyBag = HashMap<u16, PropValue>;

/// A property of a message, looked up through the container's name map.
pub fn lookup<'a>(props: &'a PropertyBag, names: &NameMap, id: MapiId) -> Option<&'a PropValue> {
    props.get(&names.id_of(id)?)
}

/// The message class (PidTagMessageClass), "" when it has none or it is not text.
pub fn message_class(props: &PropertyBag) -> String {
    props
        .get(&props::PID_TAG_MESSAGE_CLASS.tag_id())
        .and_then(PropValue::text)
        .unwrap_or_default()
}

/// A list of properties (as [`properties_of`] gives them) under IDs of a container: named
/// properties get IDs from `names`, assigned when new. Properties beyond the named-ID
/// range are left out.
pub fn bag_of(props: Vec<(MapiId, PropValue)>, names: &mut NameMap) -> PropertyBag {
    props
        .into_iter()
        .filter_map(|(id, v)| Some((names.assign(id)?, v)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn property_sets_have_their_ms_oxprops_guids() {
        for (set, guid) in [
            (PropSet::Address, "00062004-0000-0000-C000-000000000046"),
            (PropSet::Common, "00062008-0000-0000-C000-000000000046"),
            (PropSet::Task, "00062003-0000-0000-C000-000000000046"),
            (
                PropSet::PublicStrings,
                "00020329-0000-0000-C000-000000000046",
            ),
            (PropSet::Mapi, "00020328-0000-0000-C000-000000000046"),
        ] {
            assert_eq!(set.guid().to_string(), guid, "{}", set.name());
            assert_eq!(PropSet::from_guid(set.guid()), Some(set));
        }
        // Stored byte order: Data1..3 little-endian (PS_MAPI as in a .msg's map).
        assert_eq!(
            PropSet::Mapi.guid().0,
            [
                0x28, 0x03, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0xC0, 0x00, 0x00, 0x00, 0x00, 0x00,
                0x00, 0x46
            ]
        );
        let odd = Guid::from_fields(0x1234_5678, 0x9ABC, 0xDEF0, [1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(odd.to_string(), "12345678-9ABC-DEF0-0102-030405060708");
        assert_eq!(&odd.0[..4], &[0x78, 0x56, 0x34, 0x12]);
        assert_eq!(PropSet::from_guid(odd), None);
        assert_eq!(Guid::from_slice(&odd.0), Some(odd));
        assert_eq!(Guid::from_slice(&odd.0[1..]), None);
    }

    #[test]
    fn tags_and_types() {
        assert_eq!(prop_tag(0x0037, PropType::Unicode), 0x0037_001F);
        assert_eq!(split_tag(0x8001_101F), (0x8001, 0x101F));
        for t in PropType::ALL {
            assert_eq!(PropType::from_code(t.code()), Some(t));
        }
        assert_eq!(PropType::from_code(0x0001), None);
        assert!(PropType::MvUnicode.is_multi() && !PropType::Unicode.is_multi());
        assert_eq!(PropType::SysTime.code(), 0x0040);
        assert_eq!(PropType::Double.code(), 0x0005);
    }

    #[test]
    fn names_resolve_through_the_map_and_new_names_get_the_next_id() {
        let mut names = NameMap::new();
        let keywords = MapiId::Name(PropSet::PublicStrings, "Keywords");
        let billing = MapiId::Lid(PropSet::Common, 0x8535);
        assert_eq!(names.id_of(keywords), None);
        assert_eq!(names.id_of(MapiId::Tag(0x0037)), Some(0x0037));
        names.insert(
            PropSet::PublicStrings.guid(),
            NameKey::Name("Keywords".into()),
            0x8003,
        );
        assert_eq!(names.id_of(keywords), Some(0x8003));
        // The same LID in another set is another property.
        assert_eq!(names.id_of(MapiId::Lid(PropSet::Task, 0x8535)), None);
        assert_eq!(names.assign(billing), Some(0x8004));
        assert_eq!(names.assign(billing), Some(0x8004));
        assert_eq!(names.assign(keywords), Some(0x8003));
        assert_eq!(names.assign(MapiId::Tag(0x3001)), Some(0x3001));
        assert_eq!(names.len(), 2);
        let e = names.entries();
        assert_eq!(e[0].0, 0x8003);
        assert_eq!(
            e[1],
            (0x8004, &PropSet::Common.guid(), &NameKey::Lid(0x8535))
        );

        let mut fresh = NameMap::new();
        assert_eq!(fresh.assign(billing), Some(FIRST_NAMED_ID));
        let mut full = NameMap::new();
        full.insert(PropSet::Task.guid(), NameKey::Lid(1), 0xFFFF);
        assert_eq!(full.assign(billing), None);
    }

    #[test]
    fn mapi_display_is_the_field_table_column() {
        assert_eq!(
            lid("PidLidBilling", PropSet::Common, 0x8535).to_string(),
            "PidLidBilling (PSETID_Common 0x8535)"
        );
        assert_eq!(tag("PidTagBody", 0x1000).to_string(), "PidTagBody (0x1000)");
        let kw = Mapi {
            name: "PidNameKeywords",
            id: MapiId::Name(PropSet::PublicStrings, "Keywords"),
        };
        assert_eq!(
            kw.to_string(),
            "PidNameKeywords (PS_PUBLIC_STRINGS \"Keywords\")"
        );
    }
}
