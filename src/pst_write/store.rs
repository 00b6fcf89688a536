//! The messaging layer (MS-PST §2.4) of the PST smsync writes: a store named "Service
//! Master" with the nodes MS-PST §2.7.1 requires and the documented ones Outlook's own empty
//! store adds (`outlook-pst-crate__Empty.pst` in the corpus), a `Contacts` folder
//! (IPF.Contact) and a `Tasks` folder (IPF.Task) under the IPM subtree, and one message per
//! item with the properties of [`crate::mapi::properties_of`].
//!
//! Items stream in through [`PstWriter::add`]: each message's property context and subnodes
//! go to the file at once and its contents-table row is added; the folders, whose counts are
//! known only at the end, the hierarchy tables, the store and the name-to-ID map are written
//! by [`PstWriter::finish`].
//!
//! Left out on purpose: Outlook's undocumented internal nodes (0xC01, 0xE01, 0xEE1, 0xF01),
//! whose contents no spec describes, and the row Outlook puts in the receive-folder table.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Seek, Write};
use std::path::Path;

use sha2::{Digest, Sha256};

use super::crc::crc32;
use super::ltp::{self, Stored, Subnodes, Table};
use super::ndb::{EntrySpill, Ndb, SubEntry, Summary};
use crate::codec::item::Item;
use crate::fsutil::sink::FileSink;
use crate::mapi::{
    self, FIRST_NAMED_ID, Filetime, MapiId, NameKey, NameMap, PropSet, PropType, PropValue, props,
};
use crate::model::Kind;

/// The store's display name.
pub const STORE_NAME: &str = "Service Master";

// Node IDs (§2.4.1): type in the low 5 bits, index above.
pub const NID_MESSAGE_STORE: u32 = 0x21;
pub const NID_NAME_TO_ID_MAP: u32 = 0x61;
pub const NID_ROOT_FOLDER: u32 = 0x122;
pub const NID_SEARCH_MANAGEMENT_QUEUE: u32 = 0x1E1;
pub const NID_SEARCH_ACTIVITY_LIST: u32 = 0x201;
pub const NID_SEARCH_DOMAIN_OBJECT: u32 = 0x261;
pub const NID_HIERARCHY_TEMPLATE: u32 = 0x60D;
pub const NID_CONTENTS_TEMPLATE: u32 = 0x60E;
pub const NID_ASSOC_TEMPLATE: u32 = 0x60F;
pub const NID_SEARCH_CONTENTS_TEMPLATE: u32 = 0x610;
pub const NID_RECEIVE_FOLDER_TABLE: u32 = 0x62B;
pub const NID_OUTGOING_QUEUE_TABLE: u32 = 0x64C;
pub const NID_ATTACHMENT_TEMPLATE: u32 = 0x671;
pub const NID_RECIPIENT_TEMPLATE: u32 = 0x692;
pub const NID_SPAM_SEARCH_FOLDER: u32 = 0x2223;
pub const NID_IPM_SUBTREE: u32 = 0x8022;
pub const NID_SEARCH_ROOT: u32 = 0x8042;
pub const NID_DELETED_ITEMS: u32 = 0x8062;
pub const NID_COMMON_VIEWS: u32 = 0x8082;
pub const NID_CONTACTS: u32 = 0x80A2;
pub const NID_TASKS: u32 = 0x80C2;

const TYPE_NORMAL_MESSAGE: u32 = 0x04;
const TYPE_HIERARCHY_TABLE: u32 = 0x0D;
const TYPE_CONTENTS_TABLE: u32 = 0x0E;
const TYPE_ASSOC_TABLE: u32 = 0x0F;
/// The first message index (the header's default `rgnid` for normal messages).
const FIRST_MESSAGE_INDEX: u32 = 0x10000;

/// The table of a folder of this type.
fn table_nid(folder: u32, ty: u32) -> u32 {
    (folder & !0x1F) | ty
}

use PropType::{Binary as B, Boolean as BOOL, Long as L, MvLong as MVL, SysTime as T};
use PropType::{LongLong as I8, Unicode as U};

// The template tables' columns, as Outlook writes them (MS-PST §2.4.4.5, §2.4.4.6, §2.4.8.6).
const HIERARCHY_COLUMNS: &[(u16, PropType)] = &[
    (0x0E30, B),
    (0x0E33, I8),
    (0x0E34, B),
    (0x0E38, L),
    (0x3001, U),
    (0x3602, L),
    (0x3603, L),
    (0x360A, BOOL),
    (0x3613, U),
    (0x6635, L),
    (0x6636, L),
];
const CONTENTS_COLUMNS: &[(u16, PropType)] = &[
    (0x0017, L),
    (0x001A, U),
    (0x0036, L),
    (0x0037, U),
    (0x0039, T),
    (0x0042, U),
    (0x0057, BOOL),
    (0x0058, BOOL),
    (0x0070, U),
    (0x0071, B),
    (0x0E03, U),
    (0x0E04, U),
    (0x0E06, T),
    (0x0E07, L),
    (0x0E08, L),
    (0x0E17, L),
    (0x0E30, B),
    (0x0E33, I8),
    (0x0E34, B),
    (0x0E38, L),
    (0x0E3C, B),
    (0x0E3D, B),
    (0x1097, L),
    (0x3008, T),
    (0x3013, B),
    (0x65C6, L),
];
const ASSOC_COLUMNS: &[(u16, PropType)] = &[
    (0x001A, U),
    (0x0E07, L),
    (0x0E17, L),
    (0x3001, U),
    (0x6800, U),
    (0x6803, BOOL),
    (0x6805, MVL),
    (0x682F, U),
    (0x7003, L),
    (0x7004, B),
    (0x7005, B),
    (0x7006, U),
    (0x7007, L),
];
const SEARCH_CONTENTS_COLUMNS: &[(u16, PropType)] = &[
    (0x0017, L),
    (0x001A, U),
    (0x0036, L),
    (0x0037, U),
    (0x0042, U),
    (0x0057, BOOL),
    (0x0058, BOOL),
    (0x0E03, U),
    (0x0E04, U),
    (0x0E05, U),
    (0x0E06, T),
    (0x0E07, L),
    (0x0E08, L),
    (0x0E17, L),
    (0x0E2A, BOOL),
    (0x3008, T),
    (0x67F1, L),
];
const RECIPIENT_COLUMNS: &[(u16, PropType)] = &[
    (0x0C15, L),
    (0x0E0F, BOOL),
    (0x0FF9, B),
    (0x0FFE, L),
    (0x0FFF, B),
    (0x3001, U),
    (0x3002, U),
    (0x3003, U),
    (0x300B, B),
    (0x3900, L),
    (0x39FF, U),
    (0x3A40, BOOL),
];
const ATTACHMENT_COLUMNS: &[(u16, PropType)] =
    &[(0x0E20, L), (0x3704, U), (0x3705, L), (0x370B, L)];
const RECEIVE_FOLDER_COLUMNS: &[(u16, PropType)] = &[(0x001A, U), (0x6605, L)];
const OUTGOING_QUEUE_COLUMNS: &[(u16, PropType)] = &[(0x0039, T), (0x0E10, L), (0x0E14, L)];
// Three more tables of Outlook's empty store (NIDs 0x6B6, 0x6D7, 0x6F8), with its columns.
const TABLE_6B6_COLUMNS: &[(u16, PropType)] = &[(0x0E33, I8), (0x0E37, B), (0x0E38, L)];
const TABLE_6D7_COLUMNS: &[(u16, PropType)] = &[
    (0x001A, U),
    (0x0E30, B),
    (0x0E31, B),
    (0x0E33, I8),
    (0x0E34, B),
    (0x0E38, L),
    (0x0E3E, B),
];
const TABLE_6F8_COLUMNS: &[(u16, PropType)] = &[(0x0E33, I8), (0x3007, T)];

// Message properties the writer adds (MS-PST §2.4.4.1, MS-OXCMSG).
const PID_TAG_MESSAGE_FLAGS: u16 = 0x0E07;
const PID_TAG_MESSAGE_SIZE: u16 = 0x0E08;
const PID_TAG_MESSAGE_STATUS: u16 = 0x0E17;
const PID_TAG_SEARCH_KEY: u16 = 0x300B;
const PID_TAG_RECORD_KEY: u16 = 0x0FF9;
/// MSGFLAG_READ.
const MSGFLAG_READ: i64 = 0x1;

/// A property list: ID, type, value.
type Props = Vec<(u16, PropType, PropValue)>;

/// A folder's contents being written.
struct Folder {
    nid: u32,
    name: &'static str,
    class: &'static str,
    contents: Table,
    count: u32,
}

/// How many messages share one copy of a shared block: a block's reference count is 16
/// bits, so a new copy is written once one has this many.
const SHARED_USES: u32 = 60_000;

/// A block every message without large values refers to, and how many do so far.
#[derive(Debug, Clone, Copy, Default)]
struct Shared {
    bid: u64,
    uses: u32,
}

/// A PST being written: items stream in with [`PstWriter::add`].
pub struct PstWriter<W: Write + Seek> {
    ndb: Ndb<W>,
    names: NameMap,
    /// Each MAPI property's ID in this store and its type (`None`: the value's own).
    ids: HashMap<MapiId, Option<(u16, Option<PropType>)>, crate::codec::FnvBuild>,
    record_key: [u8; 16],
    contacts: Folder,
    tasks: Folder,
    next_message: u32,
    /// The empty recipient table every message has (identical bytes): one block.
    recipients: Option<Shared>,
    /// The subnode tree (one SLBLOCK naming that table) of a message without large values.
    subtree: Option<Shared>,
    /// A message's values in stored form (reused).
    scratch: Vec<u8>,
    /// How many messages share a copy of a shared block ([`SHARED_USES`]).
    shared_uses: u32,
}

/// The columns of a folder's contents table: the template's and every property its
/// messages carry, so that each row mirrors its message.
fn contents_columns(names: &mut NameMap) -> Vec<(u16, PropType)> {
    let mut cols: Vec<(u16, PropType)> = CONTENTS_COLUMNS.to_vec();
    let mut add = |id: u16, ty: PropType| {
        if !cols.iter().any(|c| c.0 == id) {
            cols.push((id, ty));
        }
    };
    for d in props::ALL {
        // Every property but the body, which Outlook keeps out of contents tables.
        if let Some(id) = names.assign(d.id())
            && id != props::PID_TAG_BODY.tag_id()
        {
            add(id, d.ty);
        }
    }
    add(PID_TAG_SEARCH_KEY, B);
    add(0x3007, T);
    cols
}

fn sha(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

fn entry_id(record_key: &[u8; 16], nid: u32) -> Vec<u8> {
    let mut e = vec![0u8; 4];
    e.extend_from_slice(record_key);
    e.extend_from_slice(&nid.to_le_bytes());
    e
}

impl<W: Write + Seek> PstWriter<W> {
    /// Starts a PST on `out` (positioned at 0), its B-tree entries waiting in `spill`
    /// ([`EntrySpill::beside`] keeps the writer's memory flat).
    pub fn new(out: W, spill: EntrySpill) -> io::Result<PstWriter<W>> {
        let mut names = NameMap::new();
        // Every named property smsync writes gets its ID now, in the order of the property
        // list: the same IDs in every file.
        let cols = contents_columns(&mut names);
        let record_key = record_key();
        let contacts = Folder {
            nid: NID_CONTACTS,
            name: "Contacts",
            class: "IPF.Contact",
            contents: Table::new(&cols)?,
            count: 0,
        };
        let tasks = Folder {
            nid: NID_TASKS,
            name: "Tasks",
            class: "IPF.Task",
            contents: Table::new(&cols)?,
            count: 0,
        };
        Ok(PstWriter {
            ndb: Ndb::new(out, spill),
            names,
            record_key,
            contacts,
            tasks,
            next_message: FIRST_MESSAGE_INDEX,
            ids: HashMap::default(),
            recipients: None,
            subtree: None,
            scratch: Vec::new(),
            shared_uses: SHARED_USES,
        })
    }

    /// B-tree entries held in memory so far ([`Ndb::entries_held`]).
    pub fn entries_held(&self) -> usize {
        self.ndb.entries_held()
    }

    /// Lets `n` messages share one copy of a shared block (for tests: the default is
    /// [`SHARED_USES`], which only a file of over 60,000 messages reaches).
    pub fn set_shared_uses(&mut self, n: u32) {
        self.shared_uses = n.clamp(1, SHARED_USES);
    }

    /// A property's ID in this store and the type it is stored as (`None`: the type of
    /// its value); `None` when no named ID is left for it.
    fn id_of(&mut self, id: MapiId) -> Option<(u16, Option<PropType>)> {
        if let Some(known) = self.ids.get(&id) {
            return *known;
        }
        let found = self
            .names
            .assign(id)
            .map(|pid| (pid, props::def_of(id).map(|d| d.ty)));
        self.ids.insert(id, found);
        found
    }

    /// The BID of the shared empty recipient table, for one more reference.
    fn recipients(&mut self) -> io::Result<u64> {
        match &mut self.recipients {
            Some(s) if s.uses < self.shared_uses => {
                s.uses += 1;
                Ok(s.bid)
            }
            _ => {
                let (bid, subs) = Table::new(RECIPIENT_COLUMNS)?.finish(&mut self.ndb)?;
                debug_assert!(subs.is_empty(), "an empty table has no subnodes");
                self.recipients = Some(Shared { bid, uses: 1 });
                Ok(bid)
            }
        }
    }

    /// The BID of the shared subnode tree of a message with no large values.
    fn subtree(&mut self) -> io::Result<u64> {
        match &mut self.subtree {
            Some(s) if s.uses < self.shared_uses => {
                s.uses += 1;
                Ok(s.bid)
            }
            _ => {
                let rt = self.recipients()?;
                let bid = self.ndb.subnodes(vec![SubEntry {
                    nid: NID_RECIPIENT_TEMPLATE,
                    data: rt,
                    sub: 0,
                }])?;
                self.subtree = Some(Shared { bid, uses: 1 });
                Ok(bid)
            }
        }
    }

    /// The properties of an item's message, under this store's IDs, with the ones a
    /// message store needs (§2.4.4.1), sorted by ID, without the message size.
    fn message_props(&mut self, item: &Item) -> Props {
        let mut out: Props = Vec::with_capacity(64);
        for (id, v) in mapi::properties_of(item) {
            let Some((pid, ty)) = self.id_of(id) else {
                continue;
            };
            let ty = ty.unwrap_or_else(|| v.prop_type());
            let v = match (ty, v) {
                (PropType::MvUnicode, PropValue::Text(s)) => PropValue::Texts(vec![s]),
                (_, v) => v,
            };
            out.push((pid, ty, v));
        }
        // A later value of an ID wins: reversed, a stable sort puts it first of its run.
        out.reverse();
        out.sort_by_key(|p| p.0);
        out.dedup_by_key(|p| p.0);
        let key = item.key.map(|k| k.to_string()).unwrap_or_default();
        let search_key = sha(&[b"smsync item ", key.as_bytes()])[..16].to_vec();
        let find = |out: &Props, id: u16| out.binary_search_by_key(&id, |p| p.0).ok();
        let modified = find(&out, props::PID_TAG_LAST_MODIFICATION_TIME.tag_id())
            .map(|i| out[i].2.clone())
            .unwrap_or(PropValue::Time(Filetime::UNIX_EPOCH));
        for (id, ty, v) in [
            (PID_TAG_MESSAGE_FLAGS, L, PropValue::Int(MSGFLAG_READ)),
            (PID_TAG_MESSAGE_STATUS, L, PropValue::Int(0)),
            (PID_TAG_SEARCH_KEY, B, PropValue::Binary(search_key)),
            (0x3007, T, modified.clone()),
            (0x3008, T, modified),
            (props::PID_TAG_IMPORTANCE.tag_id(), L, PropValue::Int(1)),
        ] {
            if let Err(at) = out.binary_search_by_key(&id, |p| p.0) {
                out.insert(at, (id, ty, v));
            }
        }
        out
    }

    /// Writes one contact or task.
    pub fn add(&mut self, item: &Item) -> io::Result<()> {
        let props = self.message_props(item);
        // Every value in stored form once, for the message and its contents-table row.
        let mut buf = std::mem::take(&mut self.scratch);
        buf.clear();
        let mut ranges = Vec::with_capacity(props.len() + 1);
        for (_, _, v) in &props {
            let at = buf.len();
            ltp::value_bytes_into(v, &mut buf);
            ranges.push(at..buf.len());
        }
        // The message size: the bytes of its values, with 8 per property for the record.
        let size: usize = ranges.iter().map(|r| 8 + r.len()).sum::<usize>() + 8;
        let at = buf.len();
        buf.extend_from_slice(&(size as i32).to_le_bytes());
        let mut stored: Vec<Stored> = props
            .iter()
            .zip(&ranges)
            .map(|((id, ty, v), r)| Stored {
                id: *id,
                ty: *ty,
                value_ty: v.prop_type(),
                bytes: &buf[r.clone()],
            })
            .collect();
        let size_prop = Stored {
            id: PID_TAG_MESSAGE_SIZE,
            ty: L,
            value_ty: L,
            bytes: &buf[at..at + 4],
        };
        match stored.binary_search_by_key(&PID_TAG_MESSAGE_SIZE, |p| p.id) {
            Ok(_) => return Err(io::Error::other("the message size given twice")),
            Err(i) => stored.insert(i, size_prop),
        }
        let result = self.write_message(item.kind, &stored);
        drop(stored);
        self.scratch = buf;
        result
    }

    fn write_message(&mut self, kind: Kind, stored: &[Stored]) -> io::Result<()> {
        let nid = (self.next_message << 5) | TYPE_NORMAL_MESSAGE;
        self.next_message += 1;
        let folder_nid = if kind == Kind::Si {
            self.tasks.nid
        } else {
            self.contacts.nid
        };
        let mut subs = Subnodes::new();
        let data = ltp::pc_stored(&mut self.ndb, &mut subs, stored)?;
        // Every message has a recipient table (the template's columns, no rows): one block
        // that all of them share, as they share the subnode tree of a message whose values
        // all fit its heap.
        let sub = if subs.entries.is_empty() {
            self.subtree()?
        } else {
            let rt = self.recipients()?;
            subs.push(SubEntry {
                nid: NID_RECIPIENT_TEMPLATE,
                data: rt,
                sub: 0,
            });
            self.ndb.subnodes(subs.entries)?
        };
        self.ndb.node(nid, data, sub, folder_nid)?;
        let folder = if kind == Kind::Si {
            &mut self.tasks
        } else {
            &mut self.contacts
        };
        folder.contents.row_stored(&mut self.ndb, nid, stored)?;
        folder.count += 1;
        Ok(())
    }

    fn pc_node(
        &mut self,
        nid: u32,
        parent: u32,
        props: &[(u16, PropType, PropValue)],
    ) -> io::Result<()> {
        let mut subs = Subnodes::new();
        let data = ltp::pc(&mut self.ndb, &mut subs, props)?;
        let sub = self.ndb.subnodes(subs.entries)?;
        self.ndb.node(nid, data, sub, parent)
    }

    fn table_node(
        &mut self,
        nid: u32,
        cols: &[(u16, PropType)],
        rows: &[(u32, Vec<(u16, PropValue)>)],
    ) -> io::Result<()> {
        let mut t = Table::new(cols)?;
        let mut rows: Vec<&(u32, Vec<(u16, PropValue)>)> = rows.iter().collect();
        rows.sort_by_key(|r| r.0);
        for (id, r) in rows {
            t.row(&mut self.ndb, *id, r)?;
        }
        self.finish_table(nid, t)
    }

    fn finish_table(&mut self, nid: u32, t: Table) -> io::Result<()> {
        let (data, subs) = t.finish(&mut self.ndb)?;
        let sub = self.ndb.subnodes(subs)?;
        self.ndb.node(nid, data, sub, 0)
    }

    /// A folder's PC and its hierarchy-table row.
    fn folder_props(
        name: &str,
        count: u32,
        subfolders: bool,
        class: Option<&str>,
    ) -> Vec<(u16, PropType, PropValue)> {
        let mut p = vec![
            (0x3001, U, PropValue::Text(name.into())),
            (0x3602, L, PropValue::Int(count as i64)),
            (0x3603, L, PropValue::Int(0)),
            (0x360A, BOOL, PropValue::Bool(subfolders)),
        ];
        if let Some(c) = class {
            p.push((0x3613, U, PropValue::Text(c.into())));
        }
        p
    }

    fn row_of(props: &[(u16, PropType, PropValue)]) -> Vec<(u16, PropValue)> {
        props.iter().map(|(i, _, v)| (*i, v.clone())).collect()
    }

    /// A folder with its three tables; `children` are its subfolders' (NID, properties).
    fn folder(
        &mut self,
        nid: u32,
        parent: u32,
        props: &[(u16, PropType, PropValue)],
        children: &[(u32, Props)],
        contents: Option<Table>,
    ) -> io::Result<()> {
        self.pc_node(nid, parent, props)?;
        let rows: Vec<(u32, Vec<(u16, PropValue)>)> = children
            .iter()
            .map(|(n, p)| (*n, Self::row_of(p)))
            .collect();
        self.table_node(
            table_nid(nid, TYPE_HIERARCHY_TABLE),
            HIERARCHY_COLUMNS,
            &rows,
        )?;
        match contents {
            Some(t) => self.finish_table(table_nid(nid, TYPE_CONTENTS_TABLE), t)?,
            None => self.table_node(table_nid(nid, TYPE_CONTENTS_TABLE), CONTENTS_COLUMNS, &[])?,
        }
        self.table_node(table_nid(nid, TYPE_ASSOC_TABLE), ASSOC_COLUMNS, &[])
    }

    /// Writes the folders, tables, store and name map, then the B-trees, maps and header.
    pub fn finish(mut self) -> io::Result<(W, Summary)> {
        let contacts = std::mem::replace(&mut self.contacts.contents, Table::new(&[])?);
        let tasks = std::mem::replace(&mut self.tasks.contents, Table::new(&[])?);
        let (cn, cc, cname, cclass) = (
            self.contacts.nid,
            self.contacts.count,
            self.contacts.name,
            self.contacts.class,
        );
        let (tn, tc, tname, tclass) = (
            self.tasks.nid,
            self.tasks.count,
            self.tasks.name,
            self.tasks.class,
        );

        // The folders under the IPM subtree.
        let deleted = Self::folder_props("Deleted Items", 0, false, None);
        let contacts_props = Self::folder_props(cname, cc, false, Some(cclass));
        let tasks_props = Self::folder_props(tname, tc, false, Some(tclass));
        self.folder(NID_DELETED_ITEMS, NID_IPM_SUBTREE, &deleted, &[], None)?;
        self.folder(cn, NID_IPM_SUBTREE, &contacts_props, &[], Some(contacts))?;
        self.folder(tn, NID_IPM_SUBTREE, &tasks_props, &[], Some(tasks))?;

        // Under the root: the IPM subtree, the search root, the common views and the spam
        // search folder.
        let ipm = Self::folder_props("Top of Personal Folders", 0, true, None);
        self.folder(
            NID_IPM_SUBTREE,
            NID_ROOT_FOLDER,
            &ipm,
            &[
                (NID_DELETED_ITEMS, deleted.clone()),
                (cn, contacts_props.clone()),
                (tn, tasks_props.clone()),
            ],
            None,
        )?;
        let search_root = Self::folder_props("Search Root", 0, false, None);
        self.folder(NID_SEARCH_ROOT, NID_ROOT_FOLDER, &search_root, &[], None)?;
        let views = Self::folder_props("IPM_COMMON_VIEWS", 0, false, None);
        self.folder(NID_COMMON_VIEWS, NID_ROOT_FOLDER, &views, &[], None)?;
        let spam = Self::folder_props("SPAM Search Folder 2", 0, false, None);
        self.pc_node(NID_SPAM_SEARCH_FOLDER, NID_ROOT_FOLDER, &spam)?;
        // Its search update queue (empty), search criteria and search contents table.
        self.ndb
            .node((NID_SPAM_SEARCH_FOLDER & !0x1F) | 0x06, 0, 0, 0)?;
        self.pc_node(
            (NID_SPAM_SEARCH_FOLDER & !0x1F) | 0x07,
            0,
            &[(0x660B, L, PropValue::Int(0))],
        )?;
        self.table_node(
            (NID_SPAM_SEARCH_FOLDER & !0x1F) | 0x10,
            SEARCH_CONTENTS_COLUMNS,
            &[],
        )?;

        let root = Self::folder_props("", 0, true, None);
        self.folder(
            NID_ROOT_FOLDER,
            NID_ROOT_FOLDER,
            &root,
            &[
                (NID_IPM_SUBTREE, ipm.clone()),
                (NID_SEARCH_ROOT, search_root.clone()),
                (NID_COMMON_VIEWS, views.clone()),
                (NID_SPAM_SEARCH_FOLDER, spam.clone()),
            ],
            None,
        )?;

        // Search management: the queue (empty) and the activity list (the spam folder).
        self.ndb.node(NID_SEARCH_MANAGEMENT_QUEUE, 0, 0, 0)?;
        let list = self
            .ndb
            .block(&NID_SPAM_SEARCH_FOLDER.to_le_bytes(), false)?;
        self.ndb.node(NID_SEARCH_ACTIVITY_LIST, list, 0, 0)?;
        for nid in [NID_SEARCH_DOMAIN_OBJECT, 0xE41, 0xEC1, 0xF21] {
            self.ndb.node(nid, 0, 0, 0)?;
        }

        // Template and store-wide tables.
        for (nid, cols) in [
            (NID_HIERARCHY_TEMPLATE, HIERARCHY_COLUMNS),
            (NID_CONTENTS_TEMPLATE, CONTENTS_COLUMNS),
            (NID_ASSOC_TEMPLATE, ASSOC_COLUMNS),
            (NID_SEARCH_CONTENTS_TEMPLATE, SEARCH_CONTENTS_COLUMNS),
            (NID_RECEIVE_FOLDER_TABLE, RECEIVE_FOLDER_COLUMNS),
            (NID_OUTGOING_QUEUE_TABLE, OUTGOING_QUEUE_COLUMNS),
            (NID_ATTACHMENT_TEMPLATE, ATTACHMENT_COLUMNS),
            (NID_RECIPIENT_TEMPLATE, RECIPIENT_COLUMNS),
            (0x6B6, TABLE_6B6_COLUMNS),
            (0x6D7, TABLE_6D7_COLUMNS),
            (0x6F8, TABLE_6F8_COLUMNS),
        ] {
            self.table_node(nid, cols, &[])?;
        }

        // The message store.
        let rk = self.record_key;
        let store = vec![
            (PID_TAG_RECORD_KEY, B, PropValue::Binary(rk.to_vec())),
            (0x3001, U, PropValue::Text(STORE_NAME.into())),
            // PidTagValidFolderMask: IPM subtree, wastebasket, common views, finder.
            (0x35DF, L, PropValue::Int(0x01 | 0x08 | 0x40 | 0x80)),
            (0x35E0, B, PropValue::Binary(entry_id(&rk, NID_IPM_SUBTREE))),
            (
                0x35E3,
                B,
                PropValue::Binary(entry_id(&rk, NID_DELETED_ITEMS)),
            ),
            (
                0x35E6,
                B,
                PropValue::Binary(entry_id(&rk, NID_COMMON_VIEWS)),
            ),
            (0x35E7, B, PropValue::Binary(entry_id(&rk, NID_SEARCH_ROOT))),
        ];
        self.pc_node(NID_MESSAGE_STORE, 0, &store)?;

        let map = name_map_props(&self.names);
        self.pc_node(NID_NAME_TO_ID_MAP, 0, &map)?;
        let (out, summary) = self.ndb.finish()?;
        Ok((out, summary))
    }
}

/// The bucket count of the name-to-ID map.
pub const NAME_BUCKETS: u32 = 251;

/// The name-to-ID map's properties (§2.4.7): bucket count, GUID, entry and string streams
/// and the hash buckets.
pub fn name_map_props(names: &NameMap) -> Vec<(u16, PropType, PropValue)> {
    let mut guids: Vec<mapi::Guid> = Vec::new();
    let mut entries = Vec::new();
    let mut strings = Vec::new();
    let mut buckets: Vec<Vec<u8>> = vec![Vec::new(); NAME_BUCKETS as usize];
    for (id, guid, key) in names.entries() {
        let index: u16 = if *guid == PropSet::Mapi.guid() {
            1
        } else if *guid == PropSet::PublicStrings.guid() {
            2
        } else {
            let i = match guids.iter().position(|g| g == guid) {
                Some(i) => i,
                None => {
                    guids.push(*guid);
                    guids.len() - 1
                }
            };
            3 + i as u16
        };
        let (value, hash_value, kind) = match key {
            NameKey::Lid(n) => (*n, *n, 0u16),
            NameKey::Name(s) => {
                let utf16: Vec<u8> = s.encode_utf16().flat_map(u16::to_le_bytes).collect();
                let offset = strings.len() as u32;
                strings.extend_from_slice(&(utf16.len() as u32).to_le_bytes());
                strings.extend_from_slice(&utf16);
                while strings.len() % 4 != 0 {
                    strings.push(0);
                }
                (offset, crc32(0, &utf16), 1)
            }
        };
        let w_guid = (index << 1) | kind;
        let idx = id - FIRST_NAMED_ID;
        let mut e = value.to_le_bytes().to_vec();
        e.extend_from_slice(&w_guid.to_le_bytes());
        e.extend_from_slice(&idx.to_le_bytes());
        entries.extend_from_slice(&e);
        let bucket = (hash_value ^ w_guid as u32) % NAME_BUCKETS;
        let b = &mut buckets[bucket as usize];
        b.extend_from_slice(&hash_value.to_le_bytes());
        b.extend_from_slice(&w_guid.to_le_bytes());
        b.extend_from_slice(&idx.to_le_bytes());
    }
    let mut p = vec![
        (0x0001, L, PropValue::Int(NAME_BUCKETS as i64)),
        (
            0x0002,
            B,
            PropValue::Binary(guids.iter().flat_map(|g| g.0).collect()),
        ),
        (0x0003, B, PropValue::Binary(entries)),
        (0x0004, B, PropValue::Binary(strings)),
    ];
    for (i, b) in buckets.into_iter().enumerate() {
        if !b.is_empty() {
            p.push((0x1000 + i as u16, B, PropValue::Binary(b)));
        }
    }
    p
}

/// Writes `items` as a PST at `path`: to a temp file in the same folder, renamed into place
/// once complete and synced. The same items in the same order give the same bytes.
pub fn write_pst<'a>(
    path: &Path,
    items: impl IntoIterator<Item = &'a Item>,
) -> crate::error::Result<Summary> {
    use crate::error::Error;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("pst");
    let tmp = path.with_file_name(format!(".{name}{}", crate::fsutil::TEMP_SUFFIX));
    let file = File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
    let run = || -> io::Result<Summary> {
        let spill = EntrySpill::beside(&tmp);
        let mut w = PstWriter::new(FileSink::direct(file, &tmp)?, spill)?;
        for item in items {
            w.add(item)?;
        }
        let (out, summary) = w.finish()?;
        let file = out.finish()?;
        file.sync_all()?;
        Ok(summary)
    };
    match run() {
        Ok(summary) => {
            std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))?;
            Ok(summary)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(Error::io(path, e))
        }
    }
}

/// The message store's record key, as [`PstWriter`] writes it.
pub fn record_key() -> [u8; 16] {
    sha(&[b"smsync PST store ", STORE_NAME.as_bytes()])[..16]
        .try_into()
        .unwrap()
}
