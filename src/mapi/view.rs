//! What MAPI carries of a neutral item, as one comparable map: the round-trip tests and the
//! PST writer's fuzz target compare an item written to a PST with the item read back
//! through this view.

use std::collections::BTreeMap;

use crate::codec::item::{Field, Item};

/// The item's fields that have a MAPI property and a value, by field name (the key is
/// left out: it travels in User 1 or Billing Information and is compared on its own). An
/// SI's location and people share one MAPI property (`PidLidContacts`), so their names are
/// one `contacts` entry, each name once, in order of first appearance.
pub fn carried(i: &Item) -> BTreeMap<&'static str, String> {
    let mut out = BTreeMap::new();
    let mut names: Vec<&str> = Vec::new();
    for (f, v) in i
        .values
        .iter()
        .filter(|(f, _)| f.mapi.is_some() && f.name != "key")
    {
        let s = match v {
            Field::Text(t) if t.is_empty() => continue,
            Field::List(l) if l.is_empty() => continue,
            Field::Names(n) => {
                for n in n {
                    if !names.contains(&n.name.as_str()) {
                        names.push(&n.name);
                    }
                }
                continue;
            }
            other => format!("{other:?}"),
        };
        out.insert(f.name, s);
    }
    if !names.is_empty() {
        out.insert("contacts", names.join("; "));
    }
    out
}
