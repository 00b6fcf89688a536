//! The vdir output (`contacts/`, `tasks/`): one vCard 3.0/4.0 per contact and one VTODO per
//! task, named by the item's UID, in the layout vdirsyncer, khard and todoman read.

use std::path::PathBuf;

use super::Layout;
use super::output::{Output, OutputKind, Put, Side, Written};
use crate::codec::item::Item;
use crate::codec::{ical, vcard};
use crate::error::Result;
use crate::fsutil;

pub struct Vdir {
    pub layout: Layout,
    /// vCard version of `contacts/`: 3.0 or 4.0.
    pub vcard: vcard::Version,
}

impl Output for Vdir {
    fn kind(&self) -> OutputKind {
        OutputKind::Vdir
    }

    fn put(&mut self, w: &mut Written, side: Side, item: &Item, _in_set: bool) -> Result<Put> {
        let (key, uid) = item_id(item);
        let text = match side {
            Side::Contacts => vcard::write(item, self.vcard),
            Side::Tasks => ical::write(item),
        };
        w.put_file(self.layout.item_file(key.kind, &uid), text.as_bytes())?;
        Ok(Put::Done)
    }

    fn remove(&mut self, item: &Item) -> Result<Put> {
        let (key, uid) = item_id(item);
        fsutil::remove_if_exists(&self.layout.item_file(key.kind, &uid))?;
        Ok(Put::Done)
    }

    fn commit(self: Box<Self>) -> Result<Vec<PathBuf>> {
        Ok(Vec::new())
    }
}

/// The key and the UID an exported item's files are named by.
pub(super) fn item_id(item: &Item) -> (crate::model::Key, String) {
    let key = item.key.expect("exported items have keys");
    let uid = item.uid.clone().unwrap_or_else(|| key.to_string());
    (key, uid)
}
