//! The node database layer (MS-PST §2.2) of a Unicode PST, written in one pass.
//!
//! Blocks go out as they are made, in file order, and only the B-tree entries (a few dozen
//! bytes per block and node) and the allocation bits are kept. The AMap, PMap and FPMap pages
//! of an AMap's range (§2.2.2.7) are written as soon as allocation leaves the range, a few
//! hundred KB behind the data, while those bytes are still on their way to the disk (written
//! at the end, they were a thousand scattered page writes for the final sync to wait on).
//! [`Ndb::finish`] then writes the BBT and NBT pages (built bottom-up), the map pages of the
//! last ranges, the FMap pages (which depend on the ranges after theirs), the density list
//! and the header with its CRCs.
//! The file ends at the end of the last AMap's range, as Outlook's files do.
//!
//! Layout: the header at 0, the density list at 0x4200, the first AMap at 0x4400 and one
//! every 253,952 bytes (0x3E000) after it, each followed by the PMap of every eighth AMap,
//! the FMap of AMap 128 and every 496th after it and the FPMap of AMap 8,192 and every
//! 31,744th after it. Data is allocated in 64-byte units after those slots and never spans
//! the start of an AMap's range; B-tree pages are 512-byte aligned.

use std::io::{self, Seek, SeekFrom, Write};

use super::crc::{crc32, signature};

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
    blocks: Vec<BlockEntry>,
    nodes: Vec<NodeEntry>,
    /// Allocation bits of each AMap's range (bit 7 of byte 0 = the range's first 64 bytes).
    amaps: Vec<[u8; 496]>,
    /// The highest NID index used per NID type.
    nid_max: [u32; 32],
    /// The ranges whose AMap, PMap and FPMap pages are written (all before this one).
    maps_out: u64,
}

fn io_err(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg.into())
}

impl<W: Write + Seek> Ndb<W> {
    pub fn new(out: W) -> Ndb<W> {
        let mut ndb = Ndb {
            out,
            written: 0,
            pos: AMAP_FIRST,
            // BIDs start at 4 and step by 4 (bit 0 is reserved, bit 1 marks internal blocks).
            next_bid: 1,
            // Page BIDs count up from 1.
            next_page: 1,
            blocks: Vec::new(),
            nodes: Vec::new(),
            amaps: Vec::new(),
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
        while self.amaps.len() as u64 <= i {
            self.amaps.push([0; 496]);
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
            let page = &mut self.amaps[(b / PER_PAGE) as usize];
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
        let bits = self.amaps[i as usize];
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
        self.blocks.push(BlockEntry {
            bid,
            ib,
            cb: data.len() as u16,
            refs: 1,
        });
        Ok(bid)
    }

    /// Counts one more reference to a block (from a node, an XBLOCK or a subnode block).
    fn reference(&mut self, bid: u64) -> io::Result<()> {
        if bid == 0 {
            return Ok(());
        }
        // Blocks are numbered in the order they are written (see `block`): the n-th has
        // `n << 2`, plus 2 when internal, so its entry is found by its number.
        let b = usize::try_from(bid >> 2)
            .ok()
            .and_then(|n| n.checked_sub(1))
            .and_then(|i| self.blocks.get_mut(i))
            .filter(|b| b.bid == bid & !1)
            .ok_or_else(|| io_err(format!("no block {bid:#x}")))?;
        b.refs = b
            .refs
            .checked_add(1)
            .ok_or_else(|| io_err(format!("block {bid:#x}: over 65,535 references")))?;
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
        self.nodes.push(NodeEntry {
            nid,
            data,
            sub,
            parent,
        });
        Ok(())
    }

    /// Writes one B-tree level of `n` entries of `size` bytes (`fill` writes entry `i` and
    /// returns its key), `per_page` to a page; the entries of the level above (first key,
    /// page BID, offset).
    fn btree_level(
        &mut self,
        ptype: u8,
        level: u8,
        n: usize,
        per_page: usize,
        size: usize,
        fill: &dyn Fn(usize, &mut [u8]) -> u64,
    ) -> io::Result<Vec<[u64; 3]>> {
        let mut up = Vec::with_capacity(n.div_ceil(per_page));
        let mut first = 0;
        while first < n {
            let count = per_page.min(n - first);
            let ib = self.alloc(PAGE, PAGE)?;
            let bid = self.next_page;
            self.next_page += 1;
            let mut p = [0u8; PAGE as usize];
            let mut key = 0;
            for i in 0..count {
                let k = fill(first + i, &mut p[i * size..(i + 1) * size]);
                if i == 0 {
                    key = k;
                }
            }
            p[488] = count as u8;
            p[489] = per_page as u8;
            p[490] = size as u8;
            p[491] = level;
            let crc = crc32(0, &p[..496]);
            p[496] = ptype;
            p[497] = ptype;
            p[498..500].copy_from_slice(&signature(ib, bid).to_le_bytes());
            p[500..504].copy_from_slice(&crc.to_le_bytes());
            p[504..512].copy_from_slice(&bid.to_le_bytes());
            self.put(ib, &p)?;
            up.push([key, bid, ib]);
            first += count;
        }
        Ok(up)
    }

    /// Writes a whole B-tree bottom-up over `n` leaf entries; the root's (BID, offset).
    fn btree(
        &mut self,
        ptype: u8,
        n: usize,
        per_leaf: usize,
        leaf_size: usize,
        leaf: &dyn Fn(usize, &mut [u8]) -> u64,
    ) -> io::Result<(u64, u64)> {
        let mut level = 0u8;
        let mut entries = self.btree_level(ptype, 0, n, per_leaf, leaf_size, leaf)?;
        while entries.len() > 1 {
            level += 1;
            let below = std::mem::take(&mut entries);
            let fill = |i: usize, e: &mut [u8]| {
                for (k, v) in below[i].iter().enumerate() {
                    e[8 * k..8 * k + 8].copy_from_slice(&v.to_le_bytes());
                }
                below[i][0]
            };
            entries = self.btree_level(ptype, level, below.len(), 20, 24, &fill)?;
        }
        Ok((entries[0][1], entries[0][2]))
    }

    /// Writes the B-trees, the map pages, the density list and the header.
    pub fn finish(mut self) -> io::Result<(W, Summary)> {
        self.nodes.sort_by_key(|n| n.nid);
        if let Some(w) = self.nodes.windows(2).find(|w| w[0].nid == w[1].nid) {
            return Err(io_err(format!("node {:#x} twice", w[0].nid)));
        }
        if self.blocks.is_empty() || self.nodes.is_empty() {
            return Err(io_err("a PST needs nodes"));
        }
        // The leaves are made from the entries as each page is written: no copy of them.
        let blocks = std::mem::take(&mut self.blocks);
        let block_leaf = |i: usize, e: &mut [u8]| {
            let b = &blocks[i];
            e[0..8].copy_from_slice(&b.bid.to_le_bytes());
            e[8..16].copy_from_slice(&b.ib.to_le_bytes());
            e[16..18].copy_from_slice(&b.cb.to_le_bytes());
            e[18..20].copy_from_slice(&b.refs.to_le_bytes());
            b.bid
        };
        let bbt = self.btree(PTYPE_BBT, blocks.len(), 20, 24, &block_leaf)?;
        let nodes = std::mem::take(&mut self.nodes);
        let node_leaf = |i: usize, e: &mut [u8]| {
            let n = &nodes[i];
            e[0..8].copy_from_slice(&(n.nid as u64).to_le_bytes());
            e[8..16].copy_from_slice(&n.data.to_le_bytes());
            e[16..24].copy_from_slice(&n.sub.to_le_bytes());
            e[24..28].copy_from_slice(&n.parent.to_le_bytes());
            n.nid as u64
        };
        let nbt = self.btree(PTYPE_NBT, nodes.len(), 15, 32, &node_leaf)?;
        let (n_blocks, n_nodes) = (blocks.len(), nodes.len());
        drop((blocks, nodes));
        // The file ends where the last AMap's range ends, as Outlook's own files do (their
        // ibFileEof is always such an end): the free space the header and the AMap count is
        // inside the file.
        let eof = amap_offset(self.amaps.len() as u64);
        debug_assert!(eof >= self.pos);
        self.put(eof, &[])?;

        // Map pages, in every AMap range the file reaches.
        let n_amaps = self.amaps.len() as u64;
        let mut free_total = 0u64;
        let longest_free: Vec<u8> = self
            .amaps
            .iter()
            .map(|bits| {
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
                best.min(255) as u8
            })
            .collect();
        for i in 0..n_amaps {
            let used: u64 = self.amaps[i as usize]
                .iter()
                .map(|b| b.count_ones() as u64)
                .sum();
            free_total += AMAP_RANGE - used * 64;
            if i >= self.maps_out {
                self.range_maps(i)?;
            }
            let (pmap, fmap, _) = map_pages(i);
            if fmap {
                // One byte per AMap from this one on: its longest run of free 64-byte units.
                let mut fm = [0u8; 496];
                for (k, b) in fm.iter_mut().enumerate() {
                    *b = longest_free.get(i as usize + k).copied().unwrap_or(0);
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
        let mut ndb = Ndb::new(Cursor::new(Vec::new()));
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
        let mut ndb = Ndb::new(Cursor::new(Vec::new()));
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
    fn large_data_gets_x_and_xx_blocks_with_reference_counts() {
        let mut ndb = Ndb::new(Cursor::new(Vec::new()));
        let data = vec![7u8; MAX_BLOCK_DATA * 2 + 1];
        let x = ndb.data(&data).unwrap();
        assert_eq!(x & 2, 2, "an XBLOCK is internal");
        assert_eq!(ndb.blocks.len(), 4);
        assert!(
            ndb.blocks[..3].iter().all(|b| b.refs == 2),
            "leaf: tree + XBLOCK"
        );
        assert_eq!(ndb.blocks[3].refs, 1, "until a node refers to it");
        ndb.node(0x21, x, 0, 0).unwrap();
        assert_eq!(ndb.blocks[3].refs, 2);

        let chunks: Vec<Vec<u8>> = (0..X_ENTRIES + 1).map(|_| vec![1u8]).collect();
        let xx = ndb.data_chunks(&chunks).unwrap();
        let last = ndb.blocks.last().unwrap();
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
