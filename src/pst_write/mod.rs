//! A Unicode PST writer (MS-PST), beside the reader [`crate::codec::pst`] and sharing the
//! MAPI module [`crate::mapi`]: no PST writer crate exists, so this one is smsync's own.
//!
//! - [`crc`]: the CRC of §5.3 and the signature of §5.5;
//! - [`ndb`]: the node database (header, blocks, XBLOCK/XXBLOCK, subnode trees, the NBT and
//!   BBT, AMap/PMap/FMap/FPMap pages, the density list), written front to back;
//! - [`ltp`]: heap-on-node, BTH, property contexts and table contexts;
//! - [`spill`]: where the B-tree entries wait until the trees are built (a file beside the
//!   PST), so that the writer's memory does not grow with the items;
//! - [`store`]: the messaging layer: the store, the name-to-ID map, the folders Outlook's
//!   own empty store has, `Contacts` and `Tasks`, and messages from [`crate::mapi::properties_of`].

pub mod crc;
pub mod ltp;
pub mod ndb;
pub mod spill;
pub mod store;

pub use store::{PstWriter, write_pst};
