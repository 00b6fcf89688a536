//! The node database layer (MS-PST §2.2) of a Unicode PST, written in one pass.
//!
//! Blocks go out as they are made, in file order. Their B-tree entries (a few dozen bytes
//! per block and node) wait in an [`EntrySpill`], a file beside the PST, with only the
//! latest blocks' in memory (their reference counts may still grow); an AMap range's
//! allocation bits are kept until its map pages are written: the memory stays flat. The
//! AMap, PMap and FPMap pages of an AMap's range (§2.2.2.7) are written as soon as
//! allocation leaves the range, a few hundred KB behind the data, while those bytes are
//! still on their way to the disk (written at the end, they were a thousand scattered page
//! writes for the final sync to wait on). [`Ndb::finish`] then writes the BBT and NBT pages
//! (built bottom-up as the entries are read back in key order), the map pages of the last
//! ranges, the FMap pages (which depend on the ranges after theirs), the density list and
//! the header with its CRCs.
//! The file ends at the end of the last AMap's range, as Outlook's files do.
//!
//! Layout: the header at 0, the density list at 0x4200, the first AMap at 0x4400 and one
//! every 253,952 bytes (0x3E000) after it, each followed by the PMap of every eighth AMap,
//! the FMap of AMap 128 and every 496th after it and the FPMap of AMap 8,192 and every
//! 31,744th after it. Data is allocated in 64-byte units after those slots and never spans
//! the start of an AMap's range; B-tree pages are 512-byte aligned.

use std::collections::{HashMap, VecDeque};
use std::io::{self, Seek, SeekFrom, Write};
use std::path::Path;

use super::crc::{crc32, signature};
use super::spill::Spill;

/// The most data one block holds.
pub const MAX_BLOCK_DATA: usize = 8176;
/// A block trailer's size.
const BLOCK_TRAILER: usize = 16;
/// A page's size.
pub const PAGE: u64 = 512;
/// The density list's offset.
pub const DLIST_OFFSET: u64 = 0x4200;
/// The first AMap's offset.
pub const AMAP_FIRST: u64 = 0x4400;
/// The bytes one AMap page maps (496 × 8 × 64).
pub const AMAP_RANGE: u64 = 496 * 8 * 64;
/// Entries of an XBLOCK or XXBLOCK: (8176 − 8) / 8.
pub const X_ENTRIES: usize = (MAX_BLOCK_DATA - 8) / 8;
/// Entries of an SLBLOCK: (8176 − 8) / 24.
pub const SL_ENTRIES: usize = (MAX_BLOCK_DATA - 8) / 24;
/// Entries of an SIBLOCK: (8176 − 8) / 16.
pub const SI_ENTRIES: usize = (MAX_BLOCK_DATA - 8) / 16;

/// Page types (§2.2.2.7.1).
pub const PTYPE_BBT: u8 = 0x80;
pub const PTYPE_NBT: u8 = 0x81;
pub const PTYPE_FMAP: u8 = 0x82;
pub const PTYPE_PMAP: u8 = 0x83;
pub const PTYPE_AMAP: u8 = 0x84;
pub const PTYPE_FPMAP: u8 = 0x85;
pub const PTYPE_DLIST: u8 = 0x86;

/// Whether AMap number `i` is followed by a PMap, an FMap and an FPMap page.
pub fn map_pages(i: u64) -> (bool, bool, bool) {
    let pmap = i.is_multiple_of(8);
    let fmap = i >= 128 && (i - 128).is_multiple_of(496);
    let fpmap = i >= 8192 && (i - 8192).is_multiple_of(496 * 64);
    (pmap, fmap, fpmap)
}

/// How many 512-byte map pages open the range of AMap `i` (the AMap itself included).
pub fn reserved_pages(i: u64) -> u64 {
    let (p, f, fp) = map_pages(i);
    1 + p as u64 + f as u64 + fp as u64
}

/// The offset of AMap number `i`.
pub fn amap_offset(i: u64) -> u64 {
    AMAP_FIRST + i * AMAP_RANGE
}

/// A BBT leaf entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockEntry {
    pub bid: u64,
    pub ib: u64,
    pub cb: u16,
    pub refs: u16,
}

/// An NBT leaf entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeEntry {
    pub nid: u32,
    pub data: u64,
    pub sub: u64,
    pub parent: u32,
}

/// One entry of a subnode tree: the subnode's NID, its data and its own subnode tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubEntry {
    pub nid: u32,
    pub data: u64,
    pub sub: u64,
}

/// Where the B-tree entries wait for [`Ndb::finish`]: one [`Spill`] for the BBT's, one
/// for the NBT's.
pub struct EntrySpill {
    blocks: Spill,
    nodes: Spill,
}

impl EntrySpill {
    /// Entries kept in memory (small files, tests).
    pub fn in_memory() -> EntrySpill {
        EntrySpill {
            blocks: Spill::in_memory(),
            nodes: Spill::in_memory(),
        }
    }

    /// Entries kept in anonymous files in the folder of `file` (the PST being written):
    /// the writer's memory then does not grow with the number of items. Where that folder
    /// cannot hold one (a share without unnamed files), in the system's temp folder, and
    /// failing that in memory: the file written is the same.
    pub fn beside(file: &Path) -> EntrySpill {
        let dir = match file.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let in_dir = |dir: &Path| -> io::Result<EntrySpill> {
            Ok(EntrySpill {
                blocks: Spill::in_dir(dir)?,
                nodes: Spill::in_dir(dir)?,
            })
        };
        in_dir(dir)
            .or_else(|_| in_dir(&std::env::temp_dir()))
            .unwrap_or_else(|_| EntrySpill::in_memory())
    }
}

/// Block entries held in memory before the older half is spilled: a message's blocks are
/// referred to within a few dozen blocks of their own.
pub const BLOCK_WINDOW: usize = 2048;
/// Node entries held in memory before they are spilled.
pub const NODE_BUFFER: usize = 1024;

/// A BBT leaf entry's bytes.
fn block_leaf(b: &BlockEntry) -> [u8; 24] {
    let mut e = [0u8; 24];
    e[0..8].copy_from_slice(&b.bid.to_le_bytes());
    e[8..16].copy_from_slice(&b.ib.to_le_bytes());
    e[16..18].copy_from_slice(&b.cb.to_le_bytes());
    e[18..20].copy_from_slice(&b.refs.to_le_bytes());
    e
}

/// An NBT leaf entry's bytes.
fn node_leaf(n: &NodeEntry) -> [u8; 32] {
    let mut e = [0u8; 32];
    e[0..8].copy_from_slice(&(n.nid as u64).to_le_bytes());
    e[8..16].copy_from_slice(&n.data.to_le_bytes());
    e[16..24].copy_from_slice(&n.sub.to_le_bytes());
    e[24..28].copy_from_slice(&n.parent.to_le_bytes());
    e
}

/// The first eight bytes of an entry: its key.
fn key_of(e: &[u8]) -> u64 {
    u64::from_le_bytes(e[0..8].try_into().expect("an entry has eight bytes of key"))
}

/// A B-tree being built bottom-up from its leaf entries in key order: one page open per
/// level; a full page is written and its entry goes to the level above.
struct TreeBuild {
    ptype: u8,
    /// Leaf entries per page and their size.
    leaf: (usize, usize),
    levels: Vec<OpenPage>,
}

struct OpenPage {
    page: [u8; PAGE as usize],
    count: usize,
    first: u64,
    /// Pages of this level written so far.
    written: u64,
}

/// What [`Ndb::finish`] wrote, for tests and reports.
#[derive(Debug, Clone)]
pub struct Summary {
    pub file_size: u64,
    pub blocks: usize,
    pub nodes: usize,
    pub amap_pages: u64,
}

/// A PST's node database being written to `out` (a file positioned at 0).
pub struct Ndb<W: Write + Seek> {
    out: W,
    /// Bytes written so far (everything before is final or a placeholder).
    written: u64,
    /// The next free offset.
    pos: u64,
    next_bid: u64,
    next_page: u64,
    /// The latest blocks' entries, whose reference counts may still grow; older ones are
    /// in `spill.blocks`. The last is block number `next_bid - 1` (its BID `>> 2`).
    blocks: VecDeque<BlockEntry>,
    /// References made to blocks already spilled, by BID (added when the BBT is built).
    late_refs: HashMap<u64, u16>,
    /// Nodes in NID order after those in `spill.nodes` (a message's NID is above every
    /// earlier one); `others`: the nodes that came out of that order (the folders and
    /// tables written last), sorted when the NBT is built.
    nodes: Vec<NodeEntry>,
    last_nid: Option<u32>,
    others: Vec<NodeEntry>,
    spill: EntrySpill,
    /// Allocation bits of the AMap ranges from `maps_out` on (bit 7 of byte 0 = the range's
    /// first 64 bytes); a range's bits go once its map pages are written, its counts stay.
    amaps: VecDeque<[u8; 496]>,
    /// Per range whose bits went: 64-byte units used, and its longest free run (for FMaps).
    range_counts: Vec<(u32, u8)>,
    /// The highest NID index used per NID type.
    nid_max: [u32; 32],
    /// The ranges whose AMap, PMap and FPMap pages are written (all before this one).
    maps_out: u64,
}

/// An AMap range's 64-byte units in use, and its longest run of free ones (at most 255).
fn range_counts(bits: &[u8; 496]) -> (u32, u8) {
    let used = bits.iter().map(|b| b.count_ones()).sum();
    let (mut best, mut run) = (0u32, 0u32);
    for byte in bits {
        for k in 0..8 {
            if byte & (0x80 >> k) == 0 {
                run += 1;
                best = best.max(run);
            } else {
                run = 0;
            }
        }
    }
    (used, best.min(255) as u8)
}

fn io_err(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg.into())
}

impl<W: Write + Seek> Ndb<W> {
    /// A node database written to `out`, its B-tree entries waiting in `spill`.
    pub fn new(out: W, spill: EntrySpill) -> Ndb<W> {
        let mut ndb = Ndb {
            out,
            written: 0,
            pos: AMAP_FIRST,
            // BIDs start at 4 and step by 4 (bit 0 is reserved, bit 1 marks internal blocks).
            next_bid: 1,
            // Page BIDs count up from 1.
            next_page: 1,
            blocks: VecDeque::new(),
            late_refs: HashMap::new(),
            nodes: Vec::new(),
            last_nid: None,
            others: Vec::new(),
            spill,
            amaps: VecDeque::new(),
            range_counts: Vec::new(),
            nid_max: [0; 32],
            maps_out: 0,
        };
        ndb.enter_range();
        ndb
    }

    /// At the start of an AMap's range: reserve its map pages.
    fn enter_range(&mut self) {
        let i = (self.pos - AMAP_FIRST) / AMAP_RANGE;
        debug_assert_eq!(self.pos, amap_offset(i));
        while self.maps_out + self.amaps.len() as u64 <= i {
            self.amaps.push_back([0; 496]);
        }
        let n = reserved_pages(i);
        self.mark(self.pos, n * PAGE);
        self.pos += n * PAGE;
    }

    fn mark(&mut self, ib: u64, len: u64) {
        let bit = (ib - AMAP_FIRST) / 64;
        let end = bit + len / 64;
        const PER_PAGE: u64 = 496 * 8;
        // An allocation never spans two ranges, except the map pages' own: bit by bit.
        let mut b = bit;
        while b < end {
            let page = &mut self.amaps[(b / PER_PAGE - self.maps_out) as usize];
            let i = (b % PER_PAGE) as usize;
            if i.is_multiple_of(8) && end - b >= 8 {
                page[i / 8] = 0xFF;
                b += 8;
            } else {
                page[i / 8] |= 0x80 >> (i % 8);
                b += 1;
            }
        }
    }

    /// Allocates `len` bytes (a multiple of 64) aligned to `align`, skipping the map slots.
    fn alloc(&mut self, len: u64, align: u64) -> io::Result<u64> {
        loop {
            if (self.pos - AMAP_FIRST).is_multiple_of(AMAP_RANGE) {
                // The last allocation ended where a range starts: its map pages come first.
                self.enter_range();
                self.maps_behind()?;
            }
            let ib = self.pos.div_ceil(align) * align;
            let i = (self.pos - AMAP_FIRST) / AMAP_RANGE;
            let next = amap_offset(i + 1);
            if ib + len <= next {
                self.pos = ib + len;
                self.mark(ib, len);
                return Ok(ib);
            }
            self.pos = next;
        }
    }

    /// Writes the AMap, PMap and FPMap pages of the ranges that allocation has left (their
    /// bits are final: allocation only moves forward) and whose slots the data has passed.
    fn maps_behind(&mut self) -> io::Result<()> {
        let current = (self.pos - AMAP_FIRST) / AMAP_RANGE;
        let before = self.maps_out;
        while self.maps_out < current
            && amap_offset(self.maps_out) + reserved_pages(self.maps_out) * PAGE <= self.written
        {
            self.range_maps(self.maps_out)?;
            // Its bits are final and written: keep only its counts.
            let bits = self
                .amaps
                .pop_front()
                .expect("the bits of every range from maps_out");
            self.range_counts.push(range_counts(&bits));
            self.maps_out += 1;
        }
        if self.maps_out != before {
            self.out.seek(SeekFrom::Start(self.written))?;
        }
        Ok(())
    }

    /// Writes the AMap, PMap and FPMap pages of range `i` (its FMap, if any, waits for
    /// [`Ndb::finish`]).
    fn range_maps(&mut self, i: u64) -> io::Result<()> {
        let ib = amap_offset(i);
        let bits = self.amaps[(i - self.maps_out) as usize];
        self.map_page(ib, PTYPE_AMAP, &bits)?;
        let (pmap, fmap, fpmap) = map_pages(i);
        if pmap {
            self.map_page(ib + PAGE, PTYPE_PMAP, &[0xFF; 496])?;
        }
        if fpmap {
            let at = ib + PAGE * (1 + pmap as u64 + fmap as u64);
            self.map_page(at, PTYPE_FPMAP, &[0xFF; 496])?;
        }
        Ok(())
    }

    /// Writes `bytes` at `ib`, which is at or after everything written so far: the gap is
    /// filled with zeros so that the file is written front to back.
    fn put(&mut self, ib: u64, bytes: &[u8]) -> io::Result<()> {
        debug_assert!(ib >= self.written);
        self.zeros((ib - self.written) as usize)?;
        self.out.write_all(bytes)?;
        self.written += bytes.len() as u64;
        Ok(())
    }

    /// Writes `n` zero bytes.
    fn zeros(&mut self, mut n: usize) -> io::Result<()> {
        const ZEROS: [u8; 4096] = [0; 4096];
        self.written += n as u64;
        while n > 0 {
            let k = n.min(ZEROS.len());
            self.out.write_all(&ZEROS[..k])?;
            n -= k;
        }
        Ok(())
    }

    /// Writes one block of `data` (at most [`MAX_BLOCK_DATA`] bytes); its BID.
    pub fn block(&mut self, data: &[u8], internal: bool) -> io::Result<u64> {
        if data.is_empty() || data.len() > MAX_BLOCK_DATA {
            return Err(io_err(format!("a block of {} bytes", data.len())));
        }
        let bid = self.next_bid << 2 | if internal { 2 } else { 0 };
        self.next_bid += 1;
        let size = (data.len() + BLOCK_TRAILER).div_ceil(64) * 64;
        let ib = self.alloc(size as u64, 64)?;
        // The data, its padding and the trailer go straight to the (buffered) output.
        self.put(ib, data)?;
        self.zeros(size - BLOCK_TRAILER - data.len())?;
        let mut trailer = [0u8; BLOCK_TRAILER];
        trailer[0..2].copy_from_slice(&(data.len() as u16).to_le_bytes());
        trailer[2..4].copy_from_slice(&signature(ib, bid).to_le_bytes());
        trailer[4..8].copy_from_slice(&crc32(0, data).to_le_bytes());
        trailer[8..16].copy_from_slice(&bid.to_le_bytes());
        self.put(self.written, &trailer)?;
        self.blocks.push_back(BlockEntry {
            bid,
            ib,
            cb: data.len() as u16,
            refs: 1,
        });
        if self.blocks.len() >= BLOCK_WINDOW {
            for b in self.blocks.drain(..BLOCK_WINDOW / 2) {
                self.spill.blocks.push(&block_leaf(&b))?;
            }
        }
        Ok(bid)
    }

    /// Counts one more reference to a block (from a node, an XBLOCK or a subnode block).
    fn reference(&mut self, bid: u64) -> io::Result<()> {
        if bid == 0 {
            return Ok(());
        }
        // Blocks are numbered in the order they are written (see `block`): the n-th has
        // `n << 2`, plus 2 when internal, so its entry is found by its number.
        let n = bid >> 2;
        let over = || io_err(format!("block {bid:#x}: over 65,535 references"));
        if n == 0 || n >= self.next_bid {
            return Err(io_err(format!("no block {bid:#x}")));
        }
        // The window holds the latest blocks, up to number `next_bid - 1`.
        let first = self.next_bid - self.blocks.len() as u64;
        if n < first {
            // Spilled: counted when the BBT is built, which also finds a wrong BID.
            let late = self.late_refs.entry(bid & !1).or_insert(0);
            *late = late.checked_add(1).ok_or_else(over)?;
            return Ok(());
        }
        let b = self
            .blocks
            .get_mut((n - first) as usize)
            .filter(|b| b.bid == bid & !1)
            .ok_or_else(|| io_err(format!("no block {bid:#x}")))?;
        b.refs = b.refs.checked_add(1).ok_or_else(over)?;
        Ok(())
    }

    /// Writes a data tree of `chunks` (each at most [`MAX_BLOCK_DATA`] bytes, in order):
    /// one block, or an XBLOCK over up to 1,021 of them, or an XXBLOCK over XBLOCKs.
    pub fn data_chunks(&mut self, chunks: &[Vec<u8>]) -> io::Result<u64> {
        if chunks.len() == 1 {
            return self.block(&chunks[0], false);
        }
        let mut leaves = Vec::with_capacity(chunks.len());
        for c in chunks {
            leaves.push((self.block(c, false)?, c.len() as u64));
        }
        self.data_tree(&leaves)
    }

    /// The XBLOCK (or XXBLOCK) over data blocks already written, given in order with their
    /// sizes.
    pub fn data_tree(&mut self, leaves: &[(u64, u64)]) -> io::Result<u64> {
        if leaves.len() == 1 {
            return Ok(leaves[0].0);
        }
        if leaves.len() <= X_ENTRIES {
            return self.xblock(1, leaves);
        }
        if leaves.len() > X_ENTRIES * X_ENTRIES {
            return Err(io_err("a value too large for a PST (over 8 GB)"));
        }
        let mut xs = Vec::new();
        for group in leaves.chunks(X_ENTRIES) {
            let total = group.iter().map(|(_, n)| n).sum();
            xs.push((self.xblock(1, group)?, total));
        }
        self.xblock(2, &xs)
    }

    fn xblock(&mut self, level: u8, children: &[(u64, u64)]) -> io::Result<u64> {
        let total: u64 = children.iter().map(|(_, n)| n).sum();
        let total = u32::try_from(total).map_err(|_| io_err("a value over 4 GB"))?;
        let mut b = vec![0x01, level];
        b.extend_from_slice(&(children.len() as u16).to_le_bytes());
        b.extend_from_slice(&total.to_le_bytes());
        for (bid, _) in children {
            b.extend_from_slice(&bid.to_le_bytes());
        }
        let bid = self.block(&b, true)?;
        for (child, _) in children {
            self.reference(*child)?;
        }
        Ok(bid)
    }

    /// Writes `data` as a data tree, cut into blocks of [`MAX_BLOCK_DATA`] bytes.
    pub fn data(&mut self, data: &[u8]) -> io::Result<u64> {
        if data.is_empty() {
            return Err(io_err("an empty data tree"));
        }
        let chunks: Vec<Vec<u8>> = data.chunks(MAX_BLOCK_DATA).map(<[u8]>::to_vec).collect();
        self.data_chunks(&chunks)
    }

    /// Writes a subnode tree (SLBLOCKs, under an SIBLOCK when there are more than 340
    /// entries); its BID, or 0 for no entries.
    pub fn subnodes(&mut self, mut entries: Vec<SubEntry>) -> io::Result<u64> {
        if entries.is_empty() {
            return Ok(0);
        }
        entries.sort_by_key(|e| e.nid);
        if entries.windows(2).any(|w| w[0].nid == w[1].nid) {
            return Err(io_err("a subnode NID twice"));
        }
        let mut leaves = Vec::new();
        for group in entries.chunks(SL_ENTRIES) {
            let mut b = vec![0x02, 0];
            b.extend_from_slice(&(group.len() as u16).to_le_bytes());
            b.extend_from_slice(&[0; 4]);
            for e in group {
                b.extend_from_slice(&(e.nid as u64).to_le_bytes());
                b.extend_from_slice(&e.data.to_le_bytes());
                b.extend_from_slice(&e.sub.to_le_bytes());
            }
            let bid = self.block(&b, true)?;
            for e in group {
                self.reference(e.data)?;
                self.reference(e.sub)?;
            }
            leaves.push((group[0].nid, bid));
        }
        if leaves.len() == 1 {
            return Ok(leaves[0].1);
        }
        if leaves.len() > SI_ENTRIES {
            return Err(io_err("more than 173,000 subnodes in one node"));
        }
        let mut b = vec![0x02, 1];
        b.extend_from_slice(&(leaves.len() as u16).to_le_bytes());
        b.extend_from_slice(&[0; 4]);
        for (nid, bid) in &leaves {
            b.extend_from_slice(&(*nid as u64).to_le_bytes());
            b.extend_from_slice(&bid.to_le_bytes());
        }
        let bid = self.block(&b, true)?;
        for (_, leaf) in &leaves {
            self.reference(*leaf)?;
        }
        Ok(bid)
    }

    /// Adds a node to the NBT.
    pub fn node(&mut self, nid: u32, data: u64, sub: u64, parent: u32) -> io::Result<()> {
        self.reference(data)?;
        self.reference(sub)?;
        let (ty, index) = ((nid & 0x1F) as usize, nid >> 5);
        self.nid_max[ty] = self.nid_max[ty].max(index);
        let entry = NodeEntry {
            nid,
            data,
            sub,
            parent,
        };
        if self.last_nid.is_some_and(|last| nid <= last) {
            self.others.push(entry);
            return Ok(());
        }
        self.last_nid = Some(nid);
        self.nodes.push(entry);
        if self.nodes.len() >= NODE_BUFFER {
            for n in std::mem::take(&mut self.nodes) {
                self.spill.nodes.push(&node_leaf(&n))?;
            }
        }
        Ok(())
    }

    /// B-tree entries held in memory (the rest wait in the spill): bounded, whatever the
    /// number of items, as long as nodes come in NID order.
    pub fn entries_held(&self) -> usize {
        self.blocks.len() + self.late_refs.len() + self.nodes.len() + self.others.len()
    }

    /// Adds an entry (its key first) to `level` of a B-tree being built; a full page there is
    /// written first, and its entry added to the level above.
    fn tree_push(&mut self, t: &mut TreeBuild, level: usize, entry: &[u8]) -> io::Result<()> {
        if t.levels.len() == level {
            t.levels.push(OpenPage {
                page: [0; PAGE as usize],
                count: 0,
                first: 0,
                written: 0,
            });
        }
        let (per_page, size) = if level == 0 { t.leaf } else { (20, 24) };
        if t.levels[level].count == per_page {
            let up = self.tree_page(t, level)?;
            self.tree_push(t, level + 1, &up)?;
        }
        let open = &mut t.levels[level];
        if open.count == 0 {
            open.first = key_of(entry);
        }
        open.page[open.count * size..(open.count + 1) * size].copy_from_slice(entry);
        open.count += 1;
        Ok(())
    }

    /// Writes the open page of `level`; the entry that points to it (first key, BID,
    /// offset).
    fn tree_page(&mut self, t: &mut TreeBuild, level: usize) -> io::Result<[u8; 24]> {
        let (per_page, size) = if level == 0 { t.leaf } else { (20, 24) };
        let ib = self.alloc(PAGE, PAGE)?;
        let bid = self.next_page;
        self.next_page += 1;
        let open = &mut t.levels[level];
        let p = &mut open.page;
        p[488] = open.count as u8;
        p[489] = per_page as u8;
        p[490] = size as u8;
        p[491] = level as u8;
        let crc = crc32(0, &p[..496]);
        p[496] = t.ptype;
        p[497] = t.ptype;
        p[498..500].copy_from_slice(&signature(ib, bid).to_le_bytes());
        p[500..504].copy_from_slice(&crc.to_le_bytes());
        p[504..512].copy_from_slice(&bid.to_le_bytes());
        let mut up = [0u8; 24];
        up[0..8].copy_from_slice(&open.first.to_le_bytes());
        up[8..16].copy_from_slice(&bid.to_le_bytes());
        up[16..24].copy_from_slice(&ib.to_le_bytes());
        let page = std::mem::replace(&mut open.page, [0; PAGE as usize]);
        open.count = 0;
        open.written += 1;
        self.put(ib, &page)?;
        Ok(up)
    }

    /// Writes the open pages bottom-up: the root's (BID, offset). The root is the first
    /// level whose only page is the open one.
    fn tree_finish(&mut self, mut t: TreeBuild) -> io::Result<(u64, u64)> {
        if t.levels.first().is_none_or(|l| l.count == 0) {
            return Err(io_err("an empty B-tree"));
        }
        let mut level = 0;
        loop {
            let open = &t.levels[level];
            let root = open.written == 0 && level + 1 == t.levels.len();
            let up = self.tree_page(&mut t, level)?;
            if root {
                let bid = key_of(&up[8..16]);
                let ib = key_of(&up[16..24]);
                return Ok((bid, ib));
            }
            self.tree_push(&mut t, level + 1, &up)?;
            level += 1;
        }
    }

    /// Writes the B-trees, the map pages, the density list and the header.
    pub fn finish(mut self) -> io::Result<(W, Summary)> {
        // Every entry goes to the spill, to be read back in order.
        let mut spill = std::mem::replace(&mut self.spill, EntrySpill::in_memory());
        for b in std::mem::take(&mut self.blocks) {
            spill.blocks.push(&block_leaf(&b))?;
        }
        for n in std::mem::take(&mut self.nodes) {
            spill.nodes.push(&node_leaf(&n))?;
        }
        let (n_blocks, n_nodes) = (
            spill.blocks.count() as usize,
            spill.nodes.count() as usize + self.others.len(),
        );
        if n_blocks == 0 || n_nodes == 0 {
            return Err(io_err("a PST needs nodes"));
        }

        // The BBT, with the references made after an entry was spilled.
        let mut late = std::mem::take(&mut self.late_refs);
        let mut bbt = TreeBuild {
            ptype: PTYPE_BBT,
            leaf: (20, 24),
            levels: Vec::new(),
        };
        for e in spill.blocks.read_back::<24>()? {
            let mut e = e?;
            if let Some(more) = late.remove(&key_of(&e)) {
                let refs = u16::from_le_bytes([e[18], e[19]]);
                let refs = refs.checked_add(more).ok_or_else(|| {
                    io_err(format!("block {:#x}: over 65,535 references", key_of(&e)))
                })?;
                e[18..20].copy_from_slice(&refs.to_le_bytes());
            }
            self.tree_push(&mut bbt, 0, &e)?;
        }
        if let Some(bid) = late.keys().min() {
            return Err(io_err(format!("no block {bid:#x}")));
        }
        let bbt = self.tree_finish(bbt)?;

        // The NBT: the nodes in NID order merged with the others, sorted.
        let mut others = std::mem::take(&mut self.others);
        others.sort_by_key(|n| n.nid);
        let mut others = others.iter().map(node_leaf).peekable();
        let mut nbt = TreeBuild {
            ptype: PTYPE_NBT,
            leaf: (15, 32),
            levels: Vec::new(),
        };
        let mut last: Option<u64> = None;
        let mut push = |ndb: &mut Self, e: [u8; 32]| -> io::Result<()> {
            let nid = key_of(&e);
            if last == Some(nid) {
                return Err(io_err(format!("node {nid:#x} twice")));
            }
            last = Some(nid);
            ndb.tree_push(&mut nbt, 0, &e)
        };
        for e in spill.nodes.read_back::<32>()? {
            let e = e?;
            while let Some(o) = others.next_if(|o| key_of(o) <= key_of(&e)) {
                push(&mut self, o)?;
            }
            push(&mut self, e)?;
        }
        for o in others {
            push(&mut self, o)?;
        }
        let nbt = self.tree_finish(nbt)?;
        // The file ends where the last AMap's range ends, as Outlook's own files do (their
        // ibFileEof is always such an end): the free space the header and the AMap count is
        // inside the file.
        let n_amaps = self.maps_out + self.amaps.len() as u64;
        let eof = amap_offset(n_amaps);
        debug_assert!(eof >= self.pos);
        self.put(eof, &[])?;

        // Map pages, in every AMap range the file reaches.
        let mut counts = std::mem::take(&mut self.range_counts);
        counts.extend(self.amaps.iter().map(range_counts));
        let mut free_total = 0u64;
        for i in 0..n_amaps {
            free_total += AMAP_RANGE - counts[i as usize].0 as u64 * 64;
            if i >= self.maps_out {
                self.range_maps(i)?;
            }
            let (pmap, fmap, _) = map_pages(i);
            if fmap {
                // One byte per AMap from this one on: its longest run of free 64-byte units.
                let mut fm = [0u8; 496];
                for (k, b) in fm.iter_mut().enumerate() {
                    *b = counts.get(i as usize + k).map_or(0, |c| c.1);
                }
                self.map_page(amap_offset(i) + PAGE * (1 + pmap as u64), PTYPE_FMAP, &fm)?;
            }
        }

        // The density list: empty, as Outlook writes it in a new file.
        let dlist_bid = self.next_page;
        let mut d = [0u8; 512];
        let crc = crc32(0, &d[..496]);
        d[496] = PTYPE_DLIST;
        d[497] = PTYPE_DLIST;
        d[498..500].copy_from_slice(&signature(DLIST_OFFSET, dlist_bid).to_le_bytes());
        d[500..504].copy_from_slice(&crc.to_le_bytes());
        d[504..512].copy_from_slice(&dlist_bid.to_le_bytes());
        self.out.seek(SeekFrom::Start(DLIST_OFFSET))?;
        self.out.write_all(&d)?;

        let header = self.header(eof, amap_offset(n_amaps - 1), free_total, nbt, bbt);
        self.out.seek(SeekFrom::Start(0))?;
        self.out.write_all(&header)?;
        self.out.flush()?;
        let summary = Summary {
            file_size: eof,
            blocks: n_blocks,
            nodes: n_nodes,
            amap_pages: n_amaps,
        };
        Ok((self.out, summary))
    }

    fn map_page(&mut self, ib: u64, ptype: u8, bits: &[u8; 496]) -> io::Result<()> {
        let mut p = [0u8; 512];
        p[..496].copy_from_slice(bits);
        let crc = crc32(0, bits);
        p[496] = ptype;
        p[497] = ptype;
        // Map pages have no signature; their BID is their offset.
        p[500..504].copy_from_slice(&crc.to_le_bytes());
        p[504..512].copy_from_slice(&ib.to_le_bytes());
        self.out.seek(SeekFrom::Start(ib))?;
        self.out.write_all(&p)
    }

    fn header(
        &self,
        eof: u64,
        amap_last: u64,
        amap_free: u64,
        nbt: (u64, u64),
        bbt: (u64, u64),
    ) -> Vec<u8> {
        const DEFAULT_NIDS: [u32; 32] = [
            0x400, 0x400, 0x400, 0x4000, 0x10000, 0x400, 0x400, 0x400, 0x8000, 0x400, 0x400, 0x400,
            0x400, 0x400, 0x400, 0x400, 0x400, 0x400, 0x400, 0x400, 0x400, 0x400, 0x400, 0x400,
            0x400, 0x400, 0x400, 0x400, 0x400, 0x400, 0x400, 0x400,
        ];
        let mut h = vec![0u8; 564];
        h[0..4].copy_from_slice(b"!BDN");
        h[8..10].copy_from_slice(b"SM");
        h[10..12].copy_from_slice(&23u16.to_le_bytes());
        h[12..14].copy_from_slice(&19u16.to_le_bytes());
        h[14] = 1; // bPlatformCreate
        h[15] = 1; // bPlatformAccess
        // dwReserved1, dwReserved2, bidUnused: zero.
        h[32..40].copy_from_slice(&self.next_page.to_le_bytes());
        h[40..44].copy_from_slice(&1u32.to_le_bytes()); // dwUnique
        for (i, d) in DEFAULT_NIDS.iter().enumerate() {
            let v = (*d).max(self.nid_max[i]);
            h[44 + 4 * i..48 + 4 * i].copy_from_slice(&v.to_le_bytes());
        }
        // qwUnused at 172; ROOT at 180.
        let r = 180;
        h[r + 4..r + 12].copy_from_slice(&eof.to_le_bytes());
        h[r + 12..r + 20].copy_from_slice(&amap_last.to_le_bytes());
        h[r + 20..r + 28].copy_from_slice(&amap_free.to_le_bytes());
        // cbPMapFree: zero.
        h[r + 36..r + 44].copy_from_slice(&nbt.0.to_le_bytes());
        h[r + 44..r + 52].copy_from_slice(&nbt.1.to_le_bytes());
        h[r + 52..r + 60].copy_from_slice(&bbt.0.to_le_bytes());
        h[r + 60..r + 68].copy_from_slice(&bbt.1.to_le_bytes());
        h[r + 68] = 2; // fAMapValid: VALID_AMAP2
        // dwAlign at 252: zero. rgbFM, rgbFP: deprecated, all 0xFF.
        h[256..512].fill(0xFF);
        h[512] = 0x80; // bSentinel
        h[513] = 0; // bCryptMethod: NDB_CRYPT_NONE
        h[516..524].copy_from_slice(&(self.next_bid << 2).to_le_bytes());
        let partial = crc32(0, &h[8..479]);
        h[4..8].copy_from_slice(&partial.to_le_bytes());
        let full = crc32(0, &h[8..524]);
        h[524..528].copy_from_slice(&full.to_le_bytes());
        h
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    #[test]
    fn map_slots_follow_the_spec() {
        assert_eq!(reserved_pages(0), 2, "AMap and PMap");
        assert_eq!(reserved_pages(1), 1);
        assert_eq!(reserved_pages(8), 2);
        assert_eq!(reserved_pages(128), 3, "the first FMap");
        assert_eq!(reserved_pages(128 + 496), 3);
        assert_eq!(reserved_pages(129), 1);
        assert_eq!(amap_offset(1), 0x4400 + 0x3E000);
    }

    #[test]
    fn allocation_skips_map_slots_and_marks_bits() {
        let mut ndb = Ndb::new(Cursor::new(Vec::new()), EntrySpill::in_memory());
        assert_eq!(ndb.pos, 0x4800, "after the first AMap and PMap");
        assert_eq!(ndb.amaps[0][0], 0xFF);
        assert_eq!(ndb.amaps[0][1], 0xFF);
        assert_eq!(ndb.amaps[0][2], 0);
        let a = ndb.alloc(64, 64).unwrap();
        assert_eq!(a, 0x4800);
        assert_eq!(ndb.amaps[0][2], 0x80);
        // A page is 512-aligned.
        let p = ndb.alloc(512, 512).unwrap();
        assert_eq!(p, 0x4A00);
        // Fill to just before the next range; the next allocation skips its AMap.
        ndb.pos = amap_offset(1) - 64;
        let b = ndb.alloc(128, 64).unwrap();
        assert_eq!(b, amap_offset(1) + 512, "after AMap 1, which has no PMap");
        assert_eq!(ndb.amaps.len(), 2);
        assert_eq!(ndb.amaps[1][0], 0xFF, "AMap 1 and the block");
        assert_eq!(ndb.amaps[1][1], 0xC0);
    }

    #[test]
    fn blocks_carry_their_trailer() {
        let mut ndb = Ndb::new(Cursor::new(Vec::new()), EntrySpill::in_memory());
        let bid = ndb.block(b"hello", false).unwrap();
        assert_eq!(bid, 4);
        let x = ndb.block(b"internal", true).unwrap();
        assert_eq!(x, 8 | 2);
        let e = ndb.blocks[0];
        let bytes = ndb.out.get_ref();
        let t = &bytes[e.ib as usize + 48..e.ib as usize + 64];
        assert_eq!(u16::from_le_bytes([t[0], t[1]]), 5);
        assert_eq!(
            u16::from_le_bytes([t[2], t[3]]),
            signature(e.ib, bid),
            "wSig"
        );
        assert_eq!(
            u32::from_le_bytes(t[4..8].try_into().unwrap()),
            crc32(0, b"hello")
        );
        assert_eq!(u64::from_le_bytes(t[8..16].try_into().unwrap()), 4);
    }

    #[test]
    fn references_to_spilled_blocks_count_and_a_wrong_one_is_refused() {
        let mut ndb = Ndb::new(Cursor::new(Vec::new()), EntrySpill::in_memory());
        let first = ndb.block(b"shared", false).unwrap();
        for _ in 0..BLOCK_WINDOW {
            ndb.block(b"x", false).unwrap();
        }
        assert!(
            ndb.blocks.front().is_some_and(|b| b.bid != first),
            "the first block left memory"
        );
        ndb.node(0x21, first, 0, 0).unwrap();
        ndb.node(0x41, first, 0, 0).unwrap();
        assert_eq!(ndb.late_refs[&first], 2);
        let (out, _) = ndb.finish().unwrap();
        // Its BBT leaf entry: BID, offset, size, and three references (itself and two nodes).
        let f = out.into_inner();
        let mut entry = first.to_le_bytes().to_vec();
        entry.extend_from_slice(&0x4800u64.to_le_bytes());
        entry.extend_from_slice(&6u16.to_le_bytes());
        let at = f
            .windows(entry.len())
            .position(|w| w == entry.as_slice())
            .expect("the block's BBT entry");
        assert_eq!(u16::from_le_bytes([f[at + 18], f[at + 19]]), 3);

        let mut ndb = Ndb::new(Cursor::new(Vec::new()), EntrySpill::in_memory());
        let first = ndb.block(b"shared", false).unwrap();
        for _ in 0..BLOCK_WINDOW {
            ndb.block(b"x", false).unwrap();
        }
        // The same number, marked internal: no such block.
        ndb.node(0x21, first | 2, 0, 0).unwrap();
        let e = ndb.finish().expect_err("a reference to no block");
        assert!(e.to_string().contains("no block 0x6"), "{e}");
    }

    #[test]
    fn entries_beside_a_folder_that_cannot_hold_them_go_elsewhere() {
        let spill = EntrySpill::beside(Path::new("/no/such/folder/Service Master.pst"));
        let mut ndb = Ndb::new(Cursor::new(Vec::new()), spill);
        let b = ndb.block(b"x", false).unwrap();
        ndb.node(0x21, b, 0, 0).unwrap();
        let (_, summary) = ndb.finish().unwrap();
        assert_eq!((summary.blocks, summary.nodes), (1, 1));
    }

    #[test]
    fn large_data_gets_x_and_xx_blocks_with_reference_counts() {
        let mut ndb = Ndb::new(Cursor::new(Vec::new()), EntrySpill::in_memory());
        let data = vec![7u8; MAX_BLOCK_DATA * 2 + 1];
        let x = ndb.data(&data).unwrap();
        assert_eq!(x & 2, 2, "an XBLOCK is internal");
        assert_eq!(ndb.blocks.len(), 4);
        assert!(
            ndb.blocks.iter().take(3).all(|b| b.refs == 2),
            "leaf: tree + XBLOCK"
        );
        assert_eq!(ndb.blocks[3].refs, 1, "until a node refers to it");
        ndb.node(0x21, x, 0, 0).unwrap();
        assert_eq!(ndb.blocks[3].refs, 2);

        let chunks: Vec<Vec<u8>> = (0..X_ENTRIES + 1).map(|_| vec![1u8]).collect();
        let xx = ndb.data_chunks(&chunks).unwrap();
        let last = ndb.blocks.back().unwrap();
        assert_eq!(last.bid, xx);
        let bytes = ndb.out.get_ref();
        let b = &bytes[last.ib as usize..];
        assert_eq!((b[0], b[1]), (1, 2), "XXBLOCK: type 1, level 2");
        assert_eq!(u16::from_le_bytes([b[2], b[3]]), 2);
        assert_eq!(
            u32::from_le_bytes(b[4..8].try_into().unwrap()),
            X_ENTRIES as u32 + 1
        );
    }
}
