//! The data-record actions of `smsync admin`: parsing `field=value` arguments against the
//! field table into typed assignments, and the one-line summaries that listings print.

use chrono::NaiveDate;

use crate::error::{Error, Result};
use crate::fields::{self, Access, FieldDef, Ty};
use crate::model::{Key, Kind, Record, Value};
use crate::store::{Assignment, Lookup};

fn valid_fields(kind: Kind, adding: bool) -> String {
    fields::settable_names(kind, adding).join(", ")
}

/// " (did you mean 'x'?)" when a settable field of `kind` is close to the unknown `name`.
fn did_you_mean(kind: Kind, name: &str, adding: bool) -> String {
    crate::error::closest(name, &fields::settable_names(kind, adding))
        .map(|n| format!(" (did you mean '{n}'?)"))
        .unwrap_or_default()
}

/// Parses one value for a field. `store` resolves client names given in place of keys.
pub fn parse_value(store: &dyn Lookup, f: &FieldDef, raw: &str) -> Result<Value> {
    let bad = |what: &str| Error::invalid(format!("{}.{}: '{raw}' is not {what}", f.kind, f.name));
    let s = raw.trim();
    if s.is_empty() {
        return Ok(match f.ty {
            Ty::Refs(_) => Value::Refs(Vec::new()),
            _ => Value::Null,
        });
    }
    Ok(match f.ty {
        Ty::Text => Value::Text(raw.to_string()),
        Ty::Bool => match s.to_ascii_lowercase().as_str() {
            "true" | "yes" | "1" | "on" => Value::Bool(true),
            "false" | "no" | "0" | "off" => Value::Bool(false),
            _ => return Err(bad("true or false")),
        },
        Ty::Int => Value::Int(s.parse().map_err(|_| bad("an integer"))?),
        Ty::Date => Value::Date(
            NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| bad("a date YYYY-MM-DD"))?,
        ),
        Ty::Choice(choices) => match choices.iter().find(|c| c.eq_ignore_ascii_case(s)) {
            Some(c) => Value::Text((*c).to_string()),
            None => return Err(bad(&format!("one of: {}", choices.join(", ")))),
        },
        Ty::Ref(kind) => Value::Ref(parse_ref(store, f, kind, s)?),
        Ty::Refs(kind) => {
            let mut keys = Vec::new();
            for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                keys.push(parse_ref(store, f, kind, part)?);
            }
            Value::Refs(keys)
        }
        Ty::Stamp => return Err(bad("settable: it is kept by smsync")),
    })
}

fn parse_ref(store: &dyn Lookup, f: &FieldDef, kind: Kind, s: &str) -> Result<Key> {
    let prefix = kind.key_prefix();
    let hint = if kind == Kind::Client {
        format!("a client key ({prefix}<id>) or a client's exact name")
    } else {
        format!("a {kind} key ({prefix}<id>)")
    };
    match s.parse::<Key>() {
        Ok(k) if k.kind == kind => Ok(k),
        Ok(k) => Err(Error::invalid(format!(
            "{}.{}: {k} is a {} key; this field takes {hint}",
            f.kind, f.name, k.kind
        ))),
        Err(_) if kind == Kind::Client => store.client_by_name(s)?.ok_or_else(|| {
            Error::invalid(format!(
                "{}.{}: no client is named '{s}'; give {hint} (admin list client)",
                f.kind, f.name
            ))
        }),
        Err(_) => Err(Error::invalid(format!(
            "{}.{}: '{s}' is not {hint}",
            f.kind, f.name
        ))),
    }
}

/// Parses `field=value` arguments for a kind. `adding` allows the fields fixed at creation.
pub fn parse_assignments(
    store: &dyn Lookup,
    kind: Kind,
    args: &[String],
    adding: bool,
) -> Result<Vec<Assignment>> {
    let mut out: Vec<Assignment> = Vec::new();
    for arg in args {
        let Some((name, raw)) = arg.split_once('=') else {
            return Err(Error::invalid(format!(
                "'{arg}' is not field=value; valid fields for {kind}: {}",
                valid_fields(kind, adding)
            )));
        };
        let name = name.trim();
        let f = fields::get(kind, name).ok_or_else(|| {
            Error::invalid(format!(
                "unknown field '{name}' for {kind}{}; valid fields: {}",
                did_you_mean(kind, name, adding),
                valid_fields(kind, adding)
            ))
        })?;
        match f.access {
            Access::Auto => {
                return Err(Error::invalid(format!(
                    "{kind}.{name} is kept by smsync and cannot be set; valid fields: {}",
                    valid_fields(kind, adding)
                )));
            }
            Access::Fixed { .. } if !adding => {
                return Err(Error::invalid(format!(
                    "{kind}.{name} is fixed when the record is added and cannot be changed; \
                     valid fields: {}",
                    valid_fields(kind, adding)
                )));
            }
            _ => {}
        }
        if out.iter().any(|(g, _)| g.name == f.name) {
            return Err(Error::invalid(format!("{kind}.{name} is given twice")));
        }
        let mut v = parse_value(store, f, raw)?;
        if kind == Kind::Employee {
            v = crate::profile::check_setting(f.name, v)?;
        }
        out.push((f, v));
    }
    Ok(out)
}

/// Builds assignments from (field, value) pairs in code, e.g. for the sample data.
pub fn assign(store: &dyn Lookup, kind: Kind, pairs: &[(&str, &str)]) -> Result<Vec<Assignment>> {
    let args: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
    parse_assignments(store, kind, &args, true)
}

/// A short human label for a record, for listings.
pub fn label(r: &Record) -> String {
    let t = |n: &str| r.text(n).to_string();
    match r.key.kind {
        Kind::Client => {
            let inactive = if r.get("active") == &Value::Bool(false) {
                " (inactive)"
            } else {
                ""
            };
            format!("{}{inactive}", t("name"))
        }
        Kind::Location => {
            let main = if r.get("main") == &Value::Bool(true) {
                " [Main]"
            } else {
                ""
            };
            format!("{} / {}{main}", t("category"), t("name"))
        }
        Kind::User => format!("{} {} ({})", t("first_name"), t("last_name"), t("category")),
        Kind::Tech => {
            let person = format!("{} {}", t("first_name"), t("last_name"));
            let person = person.trim();
            match (r.text("company"), person) {
                (c, "") => c.to_string(),
                ("", p) => p.to_string(),
                (c, p) => format!("{c} ({p})"),
            }
        }
        Kind::Si => format!("[{}] {} ({})", t("status"), t("description"), t("category")),
        Kind::Employee => {
            let inactive = if r.get("active") == &Value::Bool(false) {
                " (inactive)"
            } else {
                ""
            };
            format!("profile '{}' ({}){inactive}", t("profile"), r.get("user"))
        }
    }
}

/// The record as `field: value` lines, for `admin show`.
pub fn show(r: &Record) -> String {
    let mut out = format!("{}  {}\n", r.key, label(r));
    for (f, v) in r.fields() {
        let default = (f.kind == Kind::Employee && v.is_null())
            .then(|| crate::profile::default_of(f.name))
            .flatten();
        let shown = match (f.ty, v, default) {
            (_, _, Some(d)) => format!("(default: {d})"),
            (Ty::Stamp, Value::Int(us), _) => crate::clock::format_micros(*us),
            _ => v.to_string(),
        };
        out.push_str(&format!("  {:<15} {shown}\n", f.name));
    }
    out
}
