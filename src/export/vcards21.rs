//! The vCard 2.1 output (`outlook-vcards/`): one file per contact, in the dialect Outlook
//! reads when a file is dragged into it (bare TYPE parameters, QUOTED-PRINTABLE). Outlook
//! keeps neither UID nor categories from it, so nothing comes back this way.

use std::path::PathBuf;

use super::Layout;
use super::output::{Output, OutputKind, Put, Side, Written};
use super::vdir::item_id;
use crate::codec::item::Item;
use crate::codec::vcard;
use crate::error::Result;
use crate::fsutil;

pub struct Vcards21 {
    pub layout: Layout,
}

impl Output for Vcards21 {
    fn kind(&self) -> OutputKind {
        OutputKind::OutlookVcards
    }

    fn put(&mut self, w: &mut Written, side: Side, item: &Item, _in_set: bool) -> Result<Put> {
        debug_assert_eq!(side, Side::Contacts, "vCard 2.1 serves contacts only");
        let (_, uid) = item_id(item);
        let text = vcard::write(item, vcard::Version::V21);
        w.put_file(self.layout.vcard21_file(&uid), text.as_bytes())?;
        Ok(Put::Done)
    }

    fn remove(&mut self, item: &Item) -> Result<Put> {
        let (key, uid) = item_id(item);
        if key.kind.is_contact() {
            fsutil::remove_if_exists(&self.layout.vcard21_file(&uid))?;
        }
        Ok(Put::Done)
    }

    fn commit(self: Box<Self>) -> Result<Vec<PathBuf>> {
        Ok(Vec::new())
    }
}
