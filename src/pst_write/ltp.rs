//! The lists, tables and properties layer (MS-PST §2.3) over [`super::ndb`]: a heap-on-node
//! ([`Heap`], §2.3.1) written block by block, the BTH on it ([`BthBuilder`], §2.3.2), property
//! contexts ([`pc`], §2.3.3) and table contexts ([`Table`], §2.3.4).
//!
//! A heap keeps in memory only its first block (its header is final once the heap is), the
//! block being filled and, once a heap passes eight blocks, the one bitmap block whose fill
//! levels are still open; full blocks go to the file at once. A table's rows go to a subnode
//! as soon as they outgrow one heap allocation, a block at a time.

use std::io::{self, Seek, Write};

use super::ndb::{MAX_BLOCK_DATA, Ndb, SubEntry};
use crate::mapi::{PropType, PropValue};

/// The largest heap allocation (§2.3.1.1); larger values go to subnodes.
pub const MAX_ALLOC: usize = 3580;
/// Heap client signatures.
pub const SIG_TC: u8 = 0x7C;
pub const SIG_BTH: u8 = 0xB5;
pub const SIG_PC: u8 = 0xBC;
/// NID type of heap IDs and of LTP subnodes.
const NID_TYPE_HID: u32 = 0x00;
pub const NID_TYPE_LTP: u32 = 0x1F;

fn err(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg.into())
}

/// The fill level of a block with `free` bytes left (§2.3.1.2).
fn fill_level(free: usize) -> u8 {
    const BOUNDS: [usize; 15] = [
        3584, 2560, 2048, 1792, 1536, 1280, 1024, 768, 512, 256, 128, 64, 32, 16, 8,
    ];
    BOUNDS.iter().position(|b| free >= *b).unwrap_or(15) as u8
}

/// One heap block being filled.
struct Block {
    index: usize,
    /// The allocations, from the end of the block header on.
    data: Vec<u8>,
    /// Each allocation's start within `data`.
    starts: Vec<usize>,
}

impl Block {
    fn new(index: usize) -> Block {
        // Room for a message's heap (most are one block of a few KiB): a block's vectors
        // grew a dozen times for every message.
        Block {
            index,
            data: Vec::with_capacity(4096),
            starts: Vec::with_capacity(64),
        }
    }

    fn header_len(&self) -> usize {
        match self.index {
            0 => 12,
            i if i % 128 == 8 => 66,
            _ => 2,
        }
    }

    /// The block's size with `extra` more bytes in one more allocation.
    fn size_with(&self, extra: usize) -> usize {
        let body = self.header_len() + self.data.len() + extra;
        body.div_ceil(2) * 2 + 4 + 2 * (self.starts.len() + 2)
    }

    fn size(&self) -> usize {
        let body = self.header_len() + self.data.len();
        body.div_ceil(2) * 2 + 4 + 2 * (self.starts.len() + 1)
    }

    /// The block's bytes, with `header` (of [`Block::header_len`] bytes after ibHnpm).
    #[cfg(test)]
    fn bytes(&self, header: &[u8]) -> Vec<u8> {
        let mut b = Vec::new();
        self.bytes_into(header, &mut b);
        b
    }

    /// [`Block::bytes`] into `b` (cleared first).
    fn bytes_into(&self, header: &[u8], b: &mut Vec<u8>) {
        let h = self.header_len();
        let body = h + self.data.len();
        let hnpm = body.div_ceil(2) * 2;
        b.clear();
        b.reserve(self.size());
        b.extend_from_slice(&(hnpm as u16).to_le_bytes());
        b.extend_from_slice(header);
        debug_assert_eq!(b.len(), h);
        b.extend_from_slice(&self.data);
        b.resize(hnpm, 0);
        b.extend_from_slice(&(self.starts.len() as u16).to_le_bytes());
        b.extend_from_slice(&0u16.to_le_bytes()); // cFree
        for s in &self.starts {
            b.extend_from_slice(&((h + s) as u16).to_le_bytes());
        }
        b.extend_from_slice(&(body as u16).to_le_bytes());
    }
}

/// A heap-on-node being written.
pub struct Heap {
    client_sig: u8,
    first: Option<Block>,
    current: Block,
    /// The bitmap block (index 8, 136, …) whose fill levels are not all known yet.
    bitmap: Option<Block>,
    /// The BID and size of each block written (index order; 0 for block 0 and a held
    /// bitmap block until they are written).
    bids: Vec<(u64, u64)>,
    fills: Vec<u8>,
    /// The bytes of the block being written (reused).
    buf: Vec<u8>,
}

impl Heap {
    pub fn new(client_sig: u8) -> Heap {
        Heap {
            client_sig,
            first: None,
            current: Block::new(0),
            bitmap: None,
            bids: Vec::new(),
            fills: Vec::new(),
            buf: Vec::new(),
        }
    }

    /// Stores `value` (at most [`MAX_ALLOC`] bytes); its HID.
    pub fn alloc<W: Write + Seek>(&mut self, ndb: &mut Ndb<W>, value: &[u8]) -> io::Result<u32> {
        if value.len() > MAX_ALLOC {
            return Err(err(format!("a heap allocation of {} bytes", value.len())));
        }
        if value.is_empty() {
            return Err(err("an empty heap allocation"));
        }
        if self.current.size_with(value.len()) > MAX_BLOCK_DATA || self.current.starts.len() >= 2047
        {
            self.close(ndb)?;
        }
        let b = &mut self.current;
        b.starts.push(b.data.len());
        b.data.extend_from_slice(value);
        let index = b.starts.len() as u32;
        Ok(((b.index as u32) << 16) | (index << 5) | NID_TYPE_HID)
    }

    /// Closes the current block and starts the next.
    fn close<W: Write + Seek>(&mut self, ndb: &mut Ndb<W>) -> io::Result<()> {
        let next = Block::new(self.current.index + 1);
        let done = std::mem::replace(&mut self.current, next);
        self.fills.push(fill_level(MAX_BLOCK_DATA - done.size()));
        self.bids.push((0, 0));
        match done.index {
            0 => self.first = Some(done),
            i if i % 128 == 8 => self.bitmap = Some(done),
            _ => self.write_block(ndb, done, &[])?,
        }
        // A bitmap block is written once the fill levels of its 128 blocks are known.
        if let Some(b) = &self.bitmap
            && self.fills.len() >= b.index + 128
        {
            let b = self.bitmap.take().unwrap();
            self.write_bitmap(ndb, b)?;
        }
        Ok(())
    }

    fn write_block<W: Write + Seek>(
        &mut self,
        ndb: &mut Ndb<W>,
        block: Block,
        header: &[u8],
    ) -> io::Result<()> {
        let mut buf = std::mem::take(&mut self.buf);
        block.bytes_into(header, &mut buf);
        let bid = ndb.block(&buf, false)?;
        self.bids[block.index] = (bid, buf.len() as u64);
        self.buf = buf;
        Ok(())
    }

    fn levels(&self, from: usize, n: usize) -> Vec<u8> {
        let mut out = vec![0u8; n / 2];
        for k in 0..n {
            let level = self.fills.get(from + k).copied().unwrap_or(0);
            out[k / 2] |= level << (4 * (k % 2));
        }
        out
    }

    fn write_bitmap<W: Write + Seek>(&mut self, ndb: &mut Ndb<W>, b: Block) -> io::Result<()> {
        let levels = self.levels(b.index, 128);
        self.write_block(ndb, b, &levels)
    }

    /// Writes what is left of the heap with `user_root` as its root; the BID of its data
    /// (one block, or an XBLOCK over its blocks).
    pub fn finish<W: Write + Seek>(mut self, ndb: &mut Ndb<W>, user_root: u32) -> io::Result<u64> {
        self.close(ndb)?;
        if let Some(b) = self.bitmap.take() {
            self.write_bitmap(ndb, b)?;
        }
        let first = self.first.take().expect("block 0");
        let mut header = vec![0xEC, self.client_sig];
        header.extend_from_slice(&user_root.to_le_bytes());
        header.extend_from_slice(&self.levels(0, 8));
        self.write_block(ndb, first, &header)?;
        // Blocks written out of order (block 0, bitmap blocks) are placed by index here.
        if self.bids.len() == 1 {
            return Ok(self.bids[0].0);
        }
        ndb.data_tree(&self.bids)
    }
}

/// A BTH written record by record (records in key order).
pub struct BthBuilder {
    key: usize,
    data: usize,
    leaf: Vec<u8>,
    /// Per level: (first key, HID) of the pages written.
    levels: Vec<Vec<(Vec<u8>, u32)>>,
    /// The last key, as a number (keys are 2 or 4 bytes, little-endian).
    last: Option<u64>,
}

impl BthBuilder {
    pub fn new(key: usize, data: usize) -> BthBuilder {
        BthBuilder {
            key,
            data,
            leaf: Vec::with_capacity(512),
            levels: vec![Vec::new()],
            last: None,
        }
    }

    pub fn push<W: Write + Seek>(
        &mut self,
        heap: &mut Heap,
        ndb: &mut Ndb<W>,
        record: &[u8],
    ) -> io::Result<()> {
        if record.len() != self.key + self.data {
            return Err(err("a BTH record of the wrong size"));
        }
        // Keys compare as little-endian numbers.
        let k = record[..self.key]
            .iter()
            .rev()
            .fold(0u64, |n, b| n << 8 | *b as u64);
        if self.last.is_some_and(|l| l >= k) {
            return Err(err("BTH records out of order"));
        }
        self.last = Some(k);
        let per = MAX_ALLOC / (self.key + self.data);
        if self.leaf.len() / (self.key + self.data) == per {
            self.flush_leaf(heap, ndb)?;
        }
        self.leaf.extend_from_slice(record);
        Ok(())
    }

    fn flush_leaf<W: Write + Seek>(&mut self, heap: &mut Heap, ndb: &mut Ndb<W>) -> io::Result<()> {
        let first = self.leaf[..self.key].to_vec();
        let hid = heap.alloc(ndb, &self.leaf)?;
        self.leaf.clear();
        self.levels[0].push((first, hid));
        Ok(())
    }

    /// Writes the index levels and the header; the header's HID.
    pub fn finish<W: Write + Seek>(mut self, heap: &mut Heap, ndb: &mut Ndb<W>) -> io::Result<u32> {
        if !self.leaf.is_empty() {
            self.flush_leaf(heap, ndb)?;
        }
        let mut root = 0;
        let mut depth = 0u8;
        if !self.levels[0].is_empty() {
            let mut level = std::mem::take(&mut self.levels[0]);
            let per = MAX_ALLOC / (self.key + 4);
            while level.len() > 1 {
                depth += 1;
                let mut up = Vec::new();
                for group in level.chunks(per) {
                    let mut page = Vec::new();
                    for (k, hid) in group {
                        page.extend_from_slice(k);
                        page.extend_from_slice(&hid.to_le_bytes());
                    }
                    up.push((group[0].0.clone(), heap.alloc(ndb, &page)?));
                }
                level = up;
            }
            root = level[0].1;
        }
        let mut h = vec![SIG_BTH, self.key as u8, self.data as u8, depth];
        h.extend_from_slice(&root.to_le_bytes());
        heap.alloc(ndb, &h)
    }
}

/// The bytes of a property value as stored (Unicode text as UTF-16LE, no terminator).
pub fn value_bytes(v: &PropValue) -> Vec<u8> {
    let mut out = Vec::new();
    value_bytes_into(v, &mut out);
    out
}

/// Appends `s` as UTF-16LE.
fn utf16_into(s: &str, out: &mut Vec<u8>) {
    out.reserve(2 * s.len());
    if s.is_ascii() {
        out.extend(s.bytes().flat_map(|b| [b, 0]));
    } else {
        for u in s.encode_utf16() {
            out.extend_from_slice(&u.to_le_bytes());
        }
    }
}

/// Appends the bytes of [`value_bytes`] to `out`.
pub fn value_bytes_into(v: &PropValue, out: &mut Vec<u8>) {
    match v {
        PropValue::Int(n) => out.extend_from_slice(&(*n as i32).to_le_bytes()),
        PropValue::Bool(b) => out.push(*b as u8),
        PropValue::Double(d) => out.extend_from_slice(&d.to_le_bytes()),
        PropValue::Time(t) => out.extend_from_slice(&t.0.to_le_bytes()),
        PropValue::Text(s) => utf16_into(s, out),
        PropValue::Binary(b) => out.extend_from_slice(b),
        PropValue::Texts(list) => {
            let at = out.len();
            out.extend_from_slice(&(list.len() as u32).to_le_bytes());
            out.resize(at + 4 + 4 * list.len(), 0);
            let start = 4 + 4 * list.len();
            for (i, s) in list.iter().enumerate() {
                let off = (out.len() - at) as u32;
                debug_assert!(off as usize >= start);
                out[at + 4 + 4 * i..at + 8 + 4 * i].copy_from_slice(&off.to_le_bytes());
                utf16_into(s, out);
            }
        }
    }
}

/// A property with its value in stored form ([`value_bytes`]): its ID, the type it is
/// stored as, and the type of the value it came from ([`PropValue::prop_type`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stored<'a> {
    pub id: u16,
    pub ty: PropType,
    pub value_ty: PropType,
    pub bytes: &'a [u8],
}

/// Encodes `props` into `buf` (cleared first): (ID, type, value type, byte range), sorted by
/// ID; for an ID given twice, the first.
fn encode<'p>(
    props: impl Iterator<Item = (u16, PropType, &'p PropValue)>,
    buf: &mut Vec<u8>,
) -> Vec<(u16, PropType, PropType, std::ops::Range<usize>)> {
    buf.clear();
    let mut out = Vec::new();
    for (id, ty, v) in props {
        let at = buf.len();
        value_bytes_into(v, buf);
        out.push((id, ty, v.prop_type(), at..buf.len()));
    }
    out.sort_by_key(|p| p.0);
    out.dedup_by_key(|p| p.0);
    out
}

fn stored<'a>(
    list: &[(u16, PropType, PropType, std::ops::Range<usize>)],
    buf: &'a [u8],
) -> Vec<Stored<'a>> {
    list.iter()
        .map(|(id, ty, value_ty, r)| Stored {
            id: *id,
            ty: *ty,
            value_ty: *value_ty,
            bytes: &buf[r.clone()],
        })
        .collect()
}

/// Whether a value of this type sits in the PC record itself (4 bytes or fewer).
fn inline(ty: PropType) -> bool {
    matches!(
        ty,
        PropType::Short | PropType::Long | PropType::Float | PropType::Error | PropType::Boolean
    )
}

/// Subnode NIDs of one node's large values: handed out in order.
#[derive(Debug, Default)]
pub struct Subnodes {
    next: u32,
    pub entries: Vec<SubEntry>,
}

impl Subnodes {
    pub fn new() -> Subnodes {
        Subnodes {
            next: 0x100,
            entries: Vec::new(),
        }
    }

    /// Writes `data` as a new subnode; its NID.
    pub fn add<W: Write + Seek>(&mut self, ndb: &mut Ndb<W>, data: &[u8]) -> io::Result<u32> {
        let nid = (self.next << 5) | NID_TYPE_LTP;
        self.next += 1;
        let bid = ndb.data(data)?;
        self.entries.push(SubEntry {
            nid,
            data: bid,
            sub: 0,
        });
        Ok(nid)
    }

    /// Adds a subnode written elsewhere (a table's rows).
    pub fn push(&mut self, e: SubEntry) {
        self.entries.push(e);
    }

    pub fn next_nid(&mut self) -> u32 {
        let nid = (self.next << 5) | NID_TYPE_LTP;
        self.next += 1;
        nid
    }
}

/// The HNID of a variable-size value: a heap allocation, a subnode when it is too large, 0
/// when it is empty.
fn hnid<W: Write + Seek>(
    heap: &mut Heap,
    subs: &mut Subnodes,
    ndb: &mut Ndb<W>,
    bytes: &[u8],
) -> io::Result<u32> {
    if bytes.is_empty() {
        Ok(0)
    } else if bytes.len() <= MAX_ALLOC {
        heap.alloc(ndb, bytes)
    } else {
        subs.add(ndb, bytes)
    }
}

/// Writes a property context of `props` (property ID, type, value; any order, IDs unique);
/// its data BID. Values too large for the heap go to `subs`, which the caller writes as the
/// node's subnode tree.
pub fn pc<W: Write + Seek>(
    ndb: &mut Ndb<W>,
    subs: &mut Subnodes,
    props: &[(u16, PropType, PropValue)],
) -> io::Result<u64> {
    if props
        .iter()
        .enumerate()
        .any(|(i, p)| props[..i].iter().any(|q| q.0 == p.0))
    {
        return Err(err("BTH records out of order"));
    }
    let mut buf = Vec::new();
    let list = encode(props.iter().map(|(id, ty, v)| (*id, *ty, v)), &mut buf);
    pc_stored(ndb, subs, &stored(&list, &buf))
}

/// [`pc`] of properties in stored form, sorted by ID.
pub fn pc_stored<W: Write + Seek>(
    ndb: &mut Ndb<W>,
    subs: &mut Subnodes,
    props: &[Stored],
) -> io::Result<u64> {
    let mut heap = Heap::new(SIG_PC);
    let mut bth = BthBuilder::new(2, 6);
    for p in props {
        let bytes = p.bytes;
        let word = if inline(p.ty) {
            let mut w = [0u8; 4];
            w[..bytes.len().min(4)].copy_from_slice(&bytes[..bytes.len().min(4)]);
            u32::from_le_bytes(w)
        } else {
            hnid(&mut heap, subs, ndb, bytes)?
        };
        let mut r = [0u8; 8];
        r[0..2].copy_from_slice(&p.id.to_le_bytes());
        r[2..4].copy_from_slice(&p.ty.code().to_le_bytes());
        r[4..8].copy_from_slice(&word.to_le_bytes());
        bth.push(&mut heap, ndb, &r)?;
    }
    let root = bth.finish(&mut heap, ndb)?;
    heap.finish(ndb, root)
}

/// A table column: its tag and where it sits in a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    pub id: u16,
    pub ty: PropType,
    pub offset: u16,
    pub size: u8,
    pub bit: u8,
}

/// The cell size of a column type in a row.
fn cell_size(ty: PropType) -> usize {
    match ty {
        PropType::Boolean => 1,
        PropType::Short => 2,
        PropType::Double
        | PropType::Currency
        | PropType::AppTime
        | PropType::LongLong
        | PropType::SysTime => 8,
        _ => 4,
    }
}

/// PidTagLtpRowId and PidTagLtpRowVer, the first two columns of every table.
pub const ROW_ID: u16 = 0x67F2;
pub const ROW_VER: u16 = 0x67F3;

/// A table context being written, row by row (rows in row ID order).
pub struct Table {
    heap: Heap,
    subs: Subnodes,
    columns: Vec<Column>,
    ends: [u16; 4],
    row_index: BthBuilder,
    /// Rows while they fit one heap allocation.
    small: Vec<u8>,
    /// Once they do not: the rows NID and the blocks written.
    rows_node: Option<u32>,
    blocks: Vec<(u64, u64)>,
    pending: Vec<u8>,
    count: u32,
    /// The row being made (reused).
    row: Vec<u8>,
}

impl Table {
    /// A table with these columns (row ID and version are added first).
    pub fn new(cols: &[(u16, PropType)]) -> io::Result<Table> {
        let mut all: Vec<(u16, PropType)> =
            vec![(ROW_ID, PropType::Long), (ROW_VER, PropType::Long)];
        for c in cols {
            if all.iter().any(|a| a.0 == c.0) {
                return Err(err(format!("column {:#06x} twice", c.0)));
            }
            all.push(*c);
        }
        if all.len() > 255 {
            return Err(err("more than 255 columns"));
        }
        // Cells: 8- and 4-byte ones first (row ID and version leading), then 2, then 1.
        let mut columns = Vec::new();
        let mut off = 0usize;
        for pass in [8usize, 4, 2, 1] {
            for (bit, (id, ty)) in all.iter().enumerate() {
                let size = cell_size(*ty);
                if size != pass {
                    continue;
                }
                columns.push(Column {
                    id: *id,
                    ty: *ty,
                    offset: 0,
                    size: size as u8,
                    bit: bit as u8,
                });
            }
        }
        // Put row ID and version at the front, then lay out the offsets.
        columns.sort_by_key(|c| match c.id {
            ROW_ID => (0, 0),
            ROW_VER => (0, 1),
            _ => (1, 8 - c.size as usize),
        });
        let mut ends = [0u16; 4];
        for c in columns.iter_mut() {
            c.offset = off as u16;
            off += c.size as usize;
            match c.size {
                8 | 4 => ends[0] = off as u16,
                2 => ends[1] = off as u16,
                _ => ends[2] = off as u16,
            }
        }
        ends[1] = ends[1].max(ends[0]);
        ends[2] = ends[2].max(ends[1]);
        ends[3] = ends[2] + all.len().div_ceil(8) as u16;
        // Descriptors in tag order.
        columns.sort_by_key(|c| ((c.id as u32) << 16) | c.ty.code() as u32);
        Ok(Table {
            heap: Heap::new(SIG_TC),
            subs: Subnodes::new(),
            columns,
            ends,
            row_index: BthBuilder::new(4, 4),
            small: Vec::new(),
            rows_node: None,
            blocks: Vec::new(),
            pending: Vec::new(),
            count: 0,
            row: Vec::new(),
        })
    }

    pub fn columns(&self) -> &[Column] {
        &self.columns
    }

    pub fn row_size(&self) -> usize {
        self.ends[3] as usize
    }

    /// Adds the row of `row_id` with the values it has (absent columns stay empty).
    pub fn row<W: Write + Seek>(
        &mut self,
        ndb: &mut Ndb<W>,
        row_id: u32,
        values: &[(u16, PropValue)],
    ) -> io::Result<()> {
        let mut buf = Vec::new();
        // The first value of an ID counts; the type is the column's (checked below).
        let list = encode(
            values.iter().map(|(id, v)| (*id, v.prop_type(), v)),
            &mut buf,
        );
        self.row_stored(ndb, row_id, &stored(&list, &buf))
    }

    /// [`Table::row`] with the values in stored form, sorted by ID.
    pub fn row_stored<W: Write + Seek>(
        &mut self,
        ndb: &mut Ndb<W>,
        row_id: u32,
        values: &[Stored],
    ) -> io::Result<()> {
        debug_assert!(values.is_sorted_by_key(|v| v.id), "values in ID order");
        let size = self.row_size();
        let mut row = std::mem::take(&mut self.row);
        row.clear();
        row.resize(size, 0);
        let ceb = self.ends[2] as usize;
        let (id_bytes, ver_bytes) = (row_id.to_le_bytes(), 0u32.to_le_bytes());
        // Columns and values are both in ID order (columns: descriptors in tag order, one
        // per ID): one walk finds each column's value.
        let mut next = 0;
        for i in 0..self.columns.len() {
            let c = self.columns[i];
            let (bytes, value_ty) = match c.id {
                ROW_ID => (&id_bytes[..], PropType::Long),
                ROW_VER => (&ver_bytes[..], PropType::Long),
                id => {
                    while next < values.len() && values[next].id < id {
                        next += 1;
                    }
                    match values.get(next) {
                        Some(v) if v.id == id => (v.bytes, v.value_ty),
                        _ => continue,
                    }
                }
            };
            if value_ty != c.ty && !(c.ty == PropType::Long && value_ty == PropType::Long) {
                return Err(err(format!(
                    "column {:#06x}: a value of another type",
                    c.id
                )));
            }
            let cell = &mut row[c.offset as usize..c.offset as usize + c.size as usize];
            if cell_size(c.ty) == 4 && !inline(c.ty) {
                let h = hnid(&mut self.heap, &mut self.subs, ndb, bytes)?;
                if h == 0 {
                    continue;
                }
                cell.copy_from_slice(&h.to_le_bytes());
            } else {
                cell.copy_from_slice(&bytes[..c.size as usize]);
            }
            row[ceb + c.bit as usize / 8] |= 0x80 >> (c.bit % 8);
        }
        let result = self.push_row(ndb, row_id, &row);
        self.row = row;
        result
    }

    fn push_row<W: Write + Seek>(
        &mut self,
        ndb: &mut Ndb<W>,
        row_id: u32,
        row: &[u8],
    ) -> io::Result<()> {
        let size = row.len();
        let mut r = [0u8; 8];
        r[0..4].copy_from_slice(&row_id.to_le_bytes());
        r[4..8].copy_from_slice(&self.count.to_le_bytes());
        self.row_index.push(&mut self.heap, ndb, &r)?;
        self.count += 1;
        if self.rows_node.is_none() && self.small.len() + size <= MAX_ALLOC {
            self.small.extend_from_slice(row);
            return Ok(());
        }
        if self.rows_node.is_none() {
            self.rows_node = Some(self.subs.next_nid());
            self.pending = std::mem::take(&mut self.small);
        }
        self.pending.extend_from_slice(row);
        let per_block = (MAX_BLOCK_DATA / size) * size;
        while self.pending.len() >= per_block + size {
            let bid = ndb.block(&self.pending[..per_block], false)?;
            self.blocks.push((bid, per_block as u64));
            self.pending.drain(..per_block);
        }
        Ok(())
    }

    /// Writes the rest of the table; its data BID and its subnode entries.
    pub fn finish<W: Write + Seek>(mut self, ndb: &mut Ndb<W>) -> io::Result<(u64, Vec<SubEntry>)> {
        let rows_hnid = match self.rows_node {
            None if self.small.is_empty() => 0,
            None => self.heap.alloc(ndb, &self.small)?,
            Some(nid) => {
                if !self.pending.is_empty() {
                    let bid = ndb.block(&self.pending, false)?;
                    self.blocks.push((bid, self.pending.len() as u64));
                }
                let data = if self.blocks.len() == 1 {
                    self.blocks[0].0
                } else {
                    ndb.data_tree(&self.blocks)?
                };
                self.subs.push(SubEntry { nid, data, sub: 0 });
                nid
            }
        };
        let row_index = self.row_index.finish(&mut self.heap, ndb)?;
        let mut info = vec![SIG_TC, self.columns.len() as u8];
        for e in self.ends {
            info.extend_from_slice(&e.to_le_bytes());
        }
        info.extend_from_slice(&row_index.to_le_bytes());
        info.extend_from_slice(&rows_hnid.to_le_bytes());
        info.extend_from_slice(&0u32.to_le_bytes()); // hidIndex: deprecated
        for c in &self.columns {
            let tag = ((c.id as u32) << 16) | c.ty.code() as u32;
            info.extend_from_slice(&tag.to_le_bytes());
            info.extend_from_slice(&c.offset.to_le_bytes());
            info.push(c.size);
            info.push(c.bit);
        }
        let root = self.heap.alloc(ndb, &info)?;
        let bid = self.heap.finish(ndb, root)?;
        Ok((bid, self.subs.entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fill_levels_follow_the_table() {
        assert_eq!(fill_level(8000), 0);
        assert_eq!(fill_level(3584), 0);
        assert_eq!(fill_level(3583), 1);
        assert_eq!(fill_level(100), 0xB);
        assert_eq!(fill_level(7), 0xF);
        assert_eq!(fill_level(0), 0xF);
    }

    #[test]
    fn heap_blocks_have_page_maps() {
        let mut b = Block::new(1);
        b.starts.push(0);
        b.data.extend_from_slice(&[1, 2, 3]);
        let bytes = b.bytes(&[]);
        // ibHnpm 6 (2 + 3, rounded to 2), then the allocation, then cAlloc 1, cFree 0,
        // and the offsets 2 and 5.
        assert_eq!(bytes, [6, 0, 1, 2, 3, 0, 1, 0, 0, 0, 2, 0, 5, 0]);
        assert_eq!(b.size(), bytes.len());
    }

    #[test]
    fn multi_strings_have_offsets() {
        let v = value_bytes(&PropValue::Texts(vec!["a".into(), "bc".into()]));
        assert_eq!(
            v,
            [
                2, 0, 0, 0, 12, 0, 0, 0, 14, 0, 0, 0, b'a', 0, b'b', 0, b'c', 0
            ]
        );
    }

    #[test]
    fn table_rows_put_row_id_and_version_first() {
        let t = Table::new(&[
            (0x001A, PropType::Unicode),
            (0x0E08, PropType::Long),
            (0x3007, PropType::SysTime),
            (0x0E1B, PropType::Boolean),
        ])
        .unwrap();
        let id = t.columns().iter().find(|c| c.id == ROW_ID).unwrap();
        let ver = t.columns().iter().find(|c| c.id == ROW_VER).unwrap();
        assert_eq!((id.offset, id.bit), (0, 0));
        assert_eq!((ver.offset, ver.bit), (4, 1));
        let time = t.columns().iter().find(|c| c.id == 0x3007).unwrap();
        assert_eq!(time.offset % 4, 0);
        let b = t.columns().iter().find(|c| c.id == 0x0E1B).unwrap();
        assert_eq!(b.offset, 8 + 4 + 4 + 8, "after the 8- and 4-byte cells");
        assert_eq!(t.row_size(), 8 + 4 + 4 + 8 + 1 + 1);
    }
}
