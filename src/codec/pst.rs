//! Outlook data files (.pst, Unicode and ANSI) through the `outlook-pst` crate: every folder
//! is walked and its IPM.Contact* and IPM.Task* items become neutral items through the same
//! MAPI mapping as .msg files ([`crate::mapi`]).
//!
//! Two faults of outlook-pst 1.2.0 are worked around: `open_message` fails on some items
//! ("Missing Sub-Node Tree on message"), so such an item is read from its row of the
//! folder's contents table; and `lookup_guid` indexes the GUID stream without the offset
//! of 3 that MS-PST gives it (and panics on the last entries), so GUIDs are taken from
//! `stream_guid` and indexed here.
//!
//! A third fault cannot be worked around from outside: a damaged B-tree whose page points
//! back at itself sends outlook-pst into endless recursion, and the stack overflow aborts
//! the process (found by the fuzzer, `fuzz/regressions/pst/`). [`read_isolated`] therefore
//! first reads the file in a child process (`smsync check-pst FILE`) and reads it here only
//! when the child came through; ingest uses it whenever it knows the smsync binary.

use std::path::Path;
use std::process::{Command, Stdio};
use std::rc::Rc;
use std::time::{Duration, Instant};

use outlook_pst::ltp::prop_context::PropertyValue;
use outlook_pst::ltp::table_context::TableContext;
use outlook_pst::messaging::folder::Folder;
use outlook_pst::messaging::named_prop::{NamedPropertyGuid, NamedPropertyId};
use outlook_pst::messaging::store::Store;
use outlook_pst::ndb::node_id::NodeId;

use super::item::Incoming;
use crate::mapi::{self, Filetime, Guid, NameKey, NameMap, PropSet, PropValue, PropertyBag};

fn prop(v: &PropertyValue) -> Option<PropValue> {
    Some(match v {
        PropertyValue::Integer16(n) => PropValue::Int(*n as i64),
        PropertyValue::Integer32(n) => PropValue::Int(*n as i64),
        PropertyValue::Integer64(n) => PropValue::Int(*n),
        PropertyValue::Boolean(b) => PropValue::Bool(*b),
        PropertyValue::Time(t) => PropValue::Time(Filetime(*t as u64)),
        PropertyValue::String8(s) => PropValue::Text(s.to_string()),
        PropertyValue::Unicode(s) => PropValue::Text(s.to_string()),
        PropertyValue::MultipleString8(v) => {
            PropValue::Texts(v.iter().map(|s| s.to_string()).collect())
        }
        PropertyValue::MultipleUnicode(v) => {
            PropValue::Texts(v.iter().map(|s| s.to_string()).collect())
        }
        PropertyValue::Binary(b) => PropValue::Binary(b.buffer().to_vec()),
        _ => return None,
    })
}

/// The store's named-property map.
fn names(store: &Rc<dyn Store>) -> NameMap {
    let mut out = NameMap::new();
    let Ok(map) = store.named_property_map() else {
        return out;
    };
    let props = map.properties();
    let guids = props.stream_guid().unwrap_or_default();
    for e in props.stream_entry().unwrap_or_default() {
        let guid = match e.guid() {
            NamedPropertyGuid::None => continue,
            NamedPropertyGuid::Mapi => PropSet::Mapi.guid(),
            NamedPropertyGuid::PublicStrings => PropSet::PublicStrings.guid(),
            // outlook-pst has already taken the 3 off wGuid: `n` indexes the GUID stream.
            NamedPropertyGuid::GuidIndex(n) => {
                let Some(g) = guids.get(n as usize) else {
                    continue;
                };
                Guid::from_fields(g.data1(), g.data2(), g.data3(), *g.data4())
            }
        };
        let key = match e.id() {
            NamedPropertyId::Number(n) => NameKey::Lid(n),
            NamedPropertyId::StringOffset(off) => match props.lookup_string(off) {
                Ok(s) => NameKey::Name(s.to_string()),
                Err(_) => continue,
            },
        };
        out.insert(guid, key, e.prop_id());
    }
    out
}

/// How long a child process may take to read a PST.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(300);

/// [`read`], after `exe check-pst PATH` (the smsync binary) read the same file in a child
/// process and exited normally: a crash or a hang of the PST reader costs the child, and
/// the file is refused with the reason.
pub fn read_isolated(
    path: &Path,
    exe: &Path,
    timeout: Duration,
) -> std::result::Result<(Vec<Incoming>, PassedOver), String> {
    let mut child = Command::new(exe)
        .arg("check-pst")
        .arg(path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| {
            format!(
                "the PST reader could not be started ({}): {e}",
                exe.display()
            )
        })?;
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() > timeout => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "reading this PST took longer than {} s and was stopped: the file is \
                     damaged or not a PST; repair it with Outlook's Inbox Repair Tool \
                     (scanpst.exe), or export the contacts and tasks as CSV",
                    timeout.as_secs()
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => return Err(format!("the PST reader could not be watched: {e}")),
        }
    };
    if !status.success() {
        return Err(format!(
            "the PST reader crashed on this file ({status}): its structure is damaged; repair \
             it with Outlook's Inbox Repair Tool (scanpst.exe), or export the contacts and \
             tasks as CSV"
        ));
    }
    read_all(path)
}

/// The items of a PST that are neither contacts nor tasks (mail, appointments, …): how many
/// of each message class, most frequent first.
pub type PassedOver = Vec<(String, u64)>;

/// Every contact and task of a PST file; items that cannot be read are reported.
pub fn read(path: &Path) -> std::result::Result<Vec<Incoming>, String> {
    read_all(path).map(|(items, _)| items)
}

/// [`read`], and the items passed over, by message class.
pub fn read_all(path: &Path) -> std::result::Result<(Vec<Incoming>, PassedOver), String> {
    let store = outlook_pst::open_store(path)
        .map_err(|e| format!("not a readable Outlook data file (.pst): {e}"))?;
    let names = names(&store);
    let root = store
        .properties()
        .ipm_sub_tree_entry_id()
        .and_then(|id| store.open_folder(&id))
        .map_err(|e| format!("the PST has no readable folder tree: {e}"))?;
    let mut out = Vec::new();
    let mut passed = std::collections::HashMap::new();
    let mut stack: Vec<(String, Rc<dyn Folder>)> = vec![(String::new(), root)];
    let mut seen = 0usize;
    while let Some((path, folder)) = stack.pop() {
        if seen > 100_000 {
            out.push(Incoming {
                seen: None,
                source: path,
                item: Err("more than 100,000 folders: the file is damaged".into()),
            });
            break;
        }
        seen += 1;
        if let Some(h) = folder.hierarchy_table() {
            for row in h.rows_matrix() {
                let node = NodeId::from(u32::from(row.id()));
                match store
                    .properties()
                    .make_entry_id(node)
                    .and_then(|id| store.open_folder(&id))
                {
                    Ok(sub) => {
                        let name = sub.properties().display_name().unwrap_or_default();
                        stack.push((format!("{path}/{name}"), sub));
                    }
                    Err(e) => out.push(Incoming {
                        seen: None,
                        source: format!("folder {path}/{:?}", node),
                        item: Err(format!("the folder cannot be read: {e}")),
                    }),
                }
            }
        }
        if let Some(t) = folder.contents_table() {
            read_contents(&store, t.as_ref(), &path, &names, &mut out, &mut passed);
        }
    }
    let mut passed: PassedOver = passed.into_iter().collect();
    passed.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    Ok((out, passed))
}

fn read_contents(
    store: &Rc<dyn Store>,
    table: &dyn TableContext,
    folder: &str,
    names: &NameMap,
    out: &mut Vec<Incoming>,
    passed: &mut std::collections::HashMap<String, u64>,
) {
    let context = table.context();
    for (n, row) in table.rows_matrix().enumerate() {
        let source = format!(
            "{}/item {}",
            if folder.is_empty() { "" } else { folder },
            n + 1
        );
        // The row's own columns: enough for the message class, and the fallback when the
        // message itself cannot be opened.
        let mut row_props = PropertyBag::new();
        if let Ok(cols) = row.columns(context) {
            for (col, value) in context.columns().iter().zip(cols) {
                if let Some(v) = value
                    .as_ref()
                    .and_then(|v| table.read_column(v, col.prop_type()).ok())
                    .as_ref()
                    .and_then(prop)
                {
                    row_props.insert(col.prop_id(), v);
                }
            }
        }
        let class = match row_props.get(&mapi::props::PID_TAG_MESSAGE_CLASS.tag_id()) {
            Some(PropValue::Text(s)) => s.clone(),
            _ => String::new(),
        };
        if !(class.is_empty() || class.starts_with("IPM.Contact") || class.starts_with("IPM.Task"))
        {
            // Mail, appointments, distribution lists: not for smsync, but counted.
            *passed.entry(class).or_default() += 1;
            continue;
        }
        let node = NodeId::from(u32::from(row.id()));
        let opened = store
            .properties()
            .make_entry_id(node)
            .and_then(|id| store.open_message(&id, None));
        let (props, open_error): (PropertyBag, _) = match opened {
            Ok(m) => (
                m.properties()
                    .iter()
                    .filter_map(|(id, v)| prop(v).map(|p| (*id, p)))
                    .collect(),
                None,
            ),
            Err(e) => (row_props, Some(e)),
        };
        let class = mapi::message_class(&props);
        if class.is_empty()
            && let Some(e) = open_error
        {
            // Neither the item nor its row can be read: say so, and go on with the rest.
            out.push(Incoming {
                seen: None,
                source,
                item: Err(format!("the item cannot be read ({e}); it is skipped")),
            });
            continue;
        }
        if !(class.starts_with("IPM.Contact") || class.starts_with("IPM.Task")) {
            let class = if class.is_empty() {
                "(no class)".to_string()
            } else {
                class
            };
            *passed.entry(class).or_default() += 1;
            continue;
        }
        let item = mapi::item_from_properties(&props, names);
        out.push(Incoming {
            seen: item.is_err().then(|| mapi::seen(&props, names)).flatten(),
            source,
            item,
        });
    }
}
