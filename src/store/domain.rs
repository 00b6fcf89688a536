//! The Service Master rules of SPEC §1, engine-neutral: a record's defaults and the
//! fields a write may set ([`Draft`]), the checks a write must pass (references, unique
//! names and numbers, one Main location per client, an SI's location and people, who may
//! sync as an employee), which other Main location a write demotes, and which records a
//! change cascades to. Every decision and every error message is made here; an engine
//! answers the few questions of [`RuleReads`] and does the row I/O the decisions call for,
//! so a second engine reuses these rules unchanged.

use crate::error::{Error, Result};
use crate::fields::{self, Access, Ty};
use crate::model::{Key, Kind, Record, Value};
use crate::store::Assignment;

/// The questions the rules ask the database, answered inside the write transaction (so
/// they see its own changes). An engine implements them with plain reads.
pub trait RuleReads {
    /// Whether a record exists.
    fn exists(&self, key: Key) -> Result<bool>;
    /// The client whose name is exactly `name`.
    fn client_named_exactly(&self, name: &str) -> Result<Option<Key>>;
    /// The location of `client` whose name is exactly `name`.
    fn location_named_exactly(&self, client: Key, name: &str) -> Result<Option<Key>>;
    /// The Main location of `client`.
    fn main_location(&self, client: Key) -> Result<Option<Key>>;
    /// The client a location belongs to; `None` when the location does not exist.
    fn location_client(&self, location: Key) -> Result<Option<Key>>;
    /// A user's kind (`agent` or `client`) and client; `None` when the user does not exist.
    fn user_kind(&self, user: Key) -> Result<Option<(String, Option<Key>)>>;
    /// The employee sync record of a user.
    fn employee_of(&self, user: Key) -> Result<Option<Key>>;
    /// One more than the largest SI number, 1 when there are no SIs.
    fn next_si_number(&self) -> Result<i64>;
    /// A user's first and last name, as a profile name; `None` when the user does not exist.
    fn user_name(&self, user: Key) -> Result<Option<String>>;
    /// Every employee with its user and profile name (the user's first and last name).
    fn profile_names(&self) -> Result<Vec<(Key, Key, String)>>;
}

/// Whether two profile names would share one drop folder: the same folder name, ignoring
/// case (a drop folder on Windows or macOS does).
pub fn same_folder(a: &str, b: &str) -> bool {
    let dir = |n: &str| crate::fsutil::safe_dir_name(n).to_lowercase();
    dir(a) == dir(b)
}

/// Refuses a profile name that another employee's profile already has (or that shares
/// its folder): two employees would write into one drop folder. `who` names the record
/// being added or renamed; `own` is its employee record, if it has one.
fn unique_profile_name(db: &dyn RuleReads, name: &str, who: &str, own: Option<Key>) -> Result<()> {
    let clash: Vec<String> = db
        .profile_names()?
        .into_iter()
        .filter(|(e, _, other)| Some(*e) != own && same_folder(name, other))
        .map(|(e, u, other)| format!("{e} (user {u}, profile '{other}')"))
        .collect();
    if clash.is_empty() {
        return Ok(());
    }
    Err(Error::invalid(format!(
        "{who} would have the profile name '{name}', which {} already has: two employees \
         would share one drop folder. Profile names must be unique; give one of them \
         another first or last name (admin set SM-U<id> first_name=... last_name=...)",
        clash.join(" and ")
    )))
}

/// A full set of values for one record of a kind, being built or changed (in the order
/// of the field table).
#[derive(Debug, Clone, PartialEq)]
pub struct Draft {
    pub kind: Kind,
    pub values: Vec<Value>,
}

impl Draft {
    /// A new record's values before any assignment: active, not Main, an SI In Progress
    /// with Normal priority, no people.
    pub fn defaults(kind: Kind) -> Self {
        let values = fields::of(kind)
            .iter()
            .map(|f| match (kind, f.name) {
                (_, "active") => Value::Bool(true),
                (Kind::Location, "main") => Value::Bool(false),
                (Kind::Si, "status") => Value::Text("In Progress".into()),
                (Kind::Si, "priority") => Value::Text("Normal".into()),
                (_, _) if matches!(f.ty, Ty::Refs(_)) => Value::Refs(Vec::new()),
                _ => Value::Null,
            })
            .collect();
        Draft { kind, values }
    }

    /// The values of an existing record, to be changed.
    pub fn of(record: &Record) -> Self {
        Draft {
            kind: record.key.kind,
            values: record.values.clone(),
        }
    }

    pub fn get(&self, name: &str) -> &Value {
        &self.values[fields::index(self.kind, name).expect("field")]
    }

    pub fn set(&mut self, name: &str, v: Value) {
        let i = fields::index(self.kind, name).expect("field");
        self.values[i] = v;
    }

    pub fn is_null(&self, name: &str) -> bool {
        self.get(name).is_null()
    }

    pub fn flag(&self, name: &str) -> bool {
        self.get(name).as_bool().unwrap_or(false)
    }

    /// Applies assignments (blank text clears a field) and checks that each may be set
    /// and that every required field has a value. `adding` allows fields fixed at adding.
    pub fn apply(&mut self, values: &[Assignment], adding: bool) -> Result<()> {
        for (f, v) in values {
            if f.kind != self.kind {
                return Err(Error::invalid(format!(
                    "field {}.{} does not belong to a {}",
                    f.kind, f.name, self.kind
                )));
            }
            match f.access {
                Access::Auto => {
                    return Err(Error::invalid(format!(
                        "{}.{} is kept by smsync and cannot be set",
                        self.kind, f.name
                    )));
                }
                Access::Fixed { .. } if !adding => {
                    return Err(Error::invalid(format!(
                        "{}.{} is fixed when the record is added and cannot be changed",
                        self.kind, f.name
                    )));
                }
                _ => {}
            }
            let v = match v {
                Value::Text(s) if s.trim().is_empty() => Value::Null,
                other => other.clone(),
            };
            self.set(f.name, v);
        }
        for (f, v) in fields::of(self.kind).iter().zip(&self.values) {
            let required = matches!(
                f.access,
                Access::Required | Access::Fixed { required: true }
            );
            if required && v.is_null() {
                return Err(Error::invalid(format!(
                    "{}.{} is required ({})",
                    self.kind,
                    f.name,
                    f.ty.describe()
                )));
            }
        }
        Ok(())
    }

    /// What the journal says a new record holds: `field=value` of every value given.
    pub fn summary(&self) -> String {
        let values: Vec<String> = fields::of(self.kind)
            .iter()
            .zip(&self.values)
            .filter(|(f, v)| !v.is_null() && f.access != Access::Auto)
            .filter(|(_, v)| !matches!(v, Value::Refs(r) if r.is_empty()))
            .map(|(f, v)| format!("{}={v}", f.name))
            .collect();
        values.join("; ")
    }
}

fn require_ref(db: &dyn RuleReads, d: &Draft, name: &str) -> Result<()> {
    if let Value::Ref(k) = d.get(name)
        && !db.exists(*k)?
    {
        return Err(Error::NotFound(format!(
            "{}.{name}: {k} does not exist",
            d.kind
        )));
    }
    Ok(())
}

/// Checks the rules of SPEC §1 on a complete draft and fills in derived values (a
/// client's first location is Main, an SI's default location and number, its completion
/// date). `old` is the record being changed, `None` when adding.
pub fn validate(db: &dyn RuleReads, d: &mut Draft, old: Option<&Record>) -> Result<()> {
    let own = old.map(|r| r.key);
    let other = |k: Option<Key>| k.filter(|k| Some(*k) != own);
    for (i, f) in fields::of(d.kind).iter().enumerate() {
        // A reference the record already had exists (the engine keeps it so).
        if matches!(f.ty, Ty::Ref(_)) && old.is_none_or(|r| r.values[i] != d.values[i]) {
            require_ref(db, d, f.name)?;
        }
    }
    match d.kind {
        Kind::Client => {
            let name = d.get("name").to_string();
            if let Some(k) = other(db.client_named_exactly(&name)?) {
                return Err(Error::invalid(format!(
                    "a client named '{name}' already exists: {k}"
                )));
            }
        }
        Kind::Location => {
            let client = d.get("client").as_ref_key().expect("client");
            let name = d.get("name").to_string();
            if let Some(k) = other(db.location_named_exactly(client, &name)?) {
                return Err(Error::invalid(format!(
                    "client {client} already has a location named '{name}': {k}"
                )));
            }
            let current_main = db.main_location(client)?;
            match (old, current_main) {
                // The first location of a client is its Main location.
                (None, None) => d.set("main", Value::Bool(true)),
                (Some(r), _) if r.get("main") == &Value::Bool(true) && !d.flag("main") => {
                    return Err(Error::invalid(format!(
                        "{} is the Main location of {client} and every client has exactly one; \
                         make another location Main instead (admin set SM-L<id> main=true)",
                        r.key
                    )));
                }
                _ => {}
            }
        }
        Kind::User => {
            let renamed = old.is_some_and(|r| {
                r.get("first_name") != d.get("first_name")
                    || r.get("last_name") != d.get("last_name")
            });
            if let Some(user) = own.filter(|_| renamed)
                && let Some(employee) = db.employee_of(user)?
            {
                let name = format!("{} {}", d.get("first_name"), d.get("last_name"));
                unique_profile_name(
                    db,
                    &name,
                    &format!("{employee} (user {user})"),
                    Some(employee),
                )?;
            }
            let kind = d.get("kind").to_string();
            match (kind.as_str(), d.is_null("client")) {
                ("agent", false) => {
                    return Err(Error::invalid(
                        "a service agent (kind=agent) belongs to no client; leave client out",
                    ));
                }
                ("client", true) => {
                    return Err(Error::invalid(
                        "a client user (kind=client) needs client=SM-C<id> or the client's name",
                    ));
                }
                _ => {}
            }
        }
        Kind::Tech => {
            if ["company", "first_name", "last_name"]
                .iter()
                .all(|n| d.is_null(n))
            {
                return Err(Error::invalid(
                    "a tech entry needs a company, a person (first_name/last_name), or both",
                ));
            }
        }
        Kind::Si => validate_si(db, d, old)?,
        Kind::Employee => {
            let user = d.get("user").as_ref_key().expect("user");
            let (kind, _) = db
                .user_kind(user)?
                .ok_or_else(|| Error::NotFound(format!("{user} does not exist")))?;
            if kind != "agent" {
                return Err(Error::invalid(format!(
                    "{user} is a client user; only service agents (kind=agent) sync as employees"
                )));
            }
            if let Some(k) = other(db.employee_of(user)?) {
                return Err(Error::invalid(format!(
                    "{user} already has a sync record: {k}"
                )));
            }
            if old.is_none() {
                let name = db
                    .user_name(user)?
                    .ok_or_else(|| Error::NotFound(format!("{user} does not exist")))?;
                unique_profile_name(db, &name, &format!("a new employee for {user}"), None)?;
            }
        }
    }
    Ok(())
}

fn validate_si(db: &dyn RuleReads, d: &mut Draft, old: Option<&Record>) -> Result<()> {
    let client = d.get("client").as_ref_key().expect("client");
    match d.get("location").as_ref_key() {
        None => {
            let main = db.main_location(client)?.ok_or_else(|| {
                Error::invalid(format!(
                    "client {client} has no locations; add one (admin add location client={client} name=...) before its SIs"
                ))
            })?;
            d.set("location", Value::Ref(main));
        }
        Some(loc) => {
            if db.location_client(loc)? != Some(client) {
                return Err(Error::invalid(format!(
                    "location {loc} does not belong to client {client}; pick one of its locations"
                )));
            }
        }
    }
    if d.is_null("number") {
        d.set("number", Value::Int(db.next_si_number()?));
    }
    let number = d.get("number").as_int().expect("number");
    if number <= 0 {
        return Err(Error::invalid("si.number must be a positive integer"));
    }
    // An SI's key is its number: another SI holds the number when that key exists and is
    // not the one being changed.
    let key = Key::new(Kind::Si, number);
    if Some(key) != old.map(|r| r.key) && db.exists(key)? {
        return Err(Error::invalid(format!("SI-{number} already exists")));
    }
    let status = d.get("status").to_string();
    let was = old.map(|r| r.text("status").to_string());
    let completed_given = old.is_none_or(|r| r.get("completed") != d.get("completed"));
    if status == "Closed" && d.is_null("completed") {
        d.set("completed", Value::Date(chrono::Local::now().date_naive()));
    } else if status != "Closed" && was.as_deref() == Some("Closed") && !completed_given {
        d.set("completed", Value::Null);
    }
    if let Value::Refs(people) = d.get("people") {
        for p in people {
            let (kind, owner) = db
                .user_kind(*p)?
                .ok_or_else(|| Error::NotFound(format!("si.people: {p} does not exist")))?;
            if kind == "client" && owner != Some(client) {
                return Err(Error::invalid(format!(
                    "si.people: {p} is a client user of another client; an SI's people are \
                     service agents and client users of its own client ({client})"
                )));
            }
        }
    }
    Ok(())
}

/// The client whose current Main location stops being Main because this write makes
/// its location Main (`old` is `None` when adding). The engine demotes that location,
/// touching it, before it writes this one.
pub fn takes_main(d: &Draft, old: Option<&Record>) -> Option<Key> {
    if d.kind != Kind::Location {
        return None;
    }
    let was_main = old.is_some_and(|r| r.get("main").as_bool().unwrap_or(false));
    if d.flag("main") && !was_main {
        d.get("client").as_ref_key()
    } else {
        None
    }
}

/// Records related to a changed one, which a cascade touches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Related {
    /// Every user of a client.
    UsersOfClient(Key),
    /// Every location of a client.
    LocationsOfClient(Key),
    /// Every SI of a client.
    SisOfClient(Key),
    /// Every SI at a location.
    SisAtLocation(Key),
    /// Every SI whose people include a user.
    SisWithPerson(Key),
    /// The employee sync record of a user.
    EmployeeOfUser(Key),
}

/// One effect of a change on other records; each gets the transaction's change time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cascade {
    /// Every user of the client becomes inactive and is touched; each that was active
    /// gets a journal row `active` true → false with `reason` (when changes are journaled).
    DeactivateClientUsers { client: Key, reason: String },
    /// The records are touched (their values are unchanged).
    Touch(Related),
}

/// The cascades of SPEC §1 for a change from `old` to `d`, in the order the engine
/// applies them, plus the touches that keep derived values (category, names shown on
/// tasks, profile names) fresh in every export.
pub fn cascades(old: &Record, d: &Draft) -> Vec<Cascade> {
    let changed = |n: &str| old.get(n) != d.get(n);
    let key = old.key;
    let mut out = Vec::new();
    match d.kind {
        Kind::Client => {
            if changed("active") {
                // Reactivation touches the users too, but they stay inactive until each is
                // reactivated.
                out.push(if d.flag("active") {
                    Cascade::Touch(Related::UsersOfClient(key))
                } else {
                    Cascade::DeactivateClientUsers {
                        client: key,
                        reason: format!("client {key} made inactive"),
                    }
                });
                out.push(Cascade::Touch(Related::LocationsOfClient(key)));
            }
            if changed("name") {
                out.push(Cascade::Touch(Related::UsersOfClient(key)));
                out.push(Cascade::Touch(Related::LocationsOfClient(key)));
                out.push(Cascade::Touch(Related::SisOfClient(key)));
            }
        }
        Kind::Location if changed("name") => {
            out.push(Cascade::Touch(Related::SisAtLocation(key)));
        }
        Kind::User if changed("first_name") || changed("last_name") => {
            out.push(Cascade::Touch(Related::SisWithPerson(key)));
            out.push(Cascade::Touch(Related::EmployeeOfUser(key)));
        }
        _ => {}
    }
    out
}

#[cfg(test)]
mod tests {
    //! The rules with no database at all: an in-memory [`RuleReads`], as a second engine
    //! would answer them.
    use super::*;

    #[derive(Default)]
    struct Facts {
        existing: Vec<Key>,
        mains: Vec<(Key, Key)>,
        location_clients: Vec<(Key, Key)>,
        users: Vec<(Key, &'static str, Option<Key>)>,
        next_si: i64,
        /// (employee, user, "First Last") of users, with their employee record if any.
        names: Vec<(Option<Key>, Key, &'static str)>,
    }

    impl RuleReads for Facts {
        fn exists(&self, key: Key) -> Result<bool> {
            Ok(self.existing.contains(&key))
        }
        fn client_named_exactly(&self, _: &str) -> Result<Option<Key>> {
            Ok(None)
        }
        fn location_named_exactly(&self, _: Key, _: &str) -> Result<Option<Key>> {
            Ok(None)
        }
        fn main_location(&self, client: Key) -> Result<Option<Key>> {
            Ok(self.mains.iter().find(|(c, _)| *c == client).map(|p| p.1))
        }
        fn location_client(&self, location: Key) -> Result<Option<Key>> {
            let found = self.location_clients.iter().find(|(l, _)| *l == location);
            Ok(found.map(|p| p.1))
        }
        fn user_kind(&self, user: Key) -> Result<Option<(String, Option<Key>)>> {
            let found = self.users.iter().find(|(u, _, _)| *u == user);
            Ok(found.map(|(_, k, c)| (k.to_string(), *c)))
        }
        fn employee_of(&self, user: Key) -> Result<Option<Key>> {
            Ok(self
                .names
                .iter()
                .find(|(_, u, _)| *u == user)
                .and_then(|p| p.0))
        }
        fn next_si_number(&self) -> Result<i64> {
            Ok(self.next_si)
        }
        fn user_name(&self, user: Key) -> Result<Option<String>> {
            Ok(self
                .names
                .iter()
                .find(|(_, u, _)| *u == user)
                .map(|p| p.2.to_string()))
        }
        fn profile_names(&self) -> Result<Vec<(Key, Key, String)>> {
            let employees = self
                .names
                .iter()
                .filter_map(|(e, u, n)| Some((*(e.as_ref()?), *u, n.to_string())));
            Ok(employees.collect())
        }
    }

    fn draft(kind: Kind, values: &[(&str, Value)]) -> Draft {
        let assignments: Vec<Assignment> = values
            .iter()
            .map(|(n, v)| (fields::get(kind, n).expect("field"), v.clone()))
            .collect();
        let mut d = Draft::defaults(kind);
        d.apply(&assignments, true).expect("apply");
        d
    }

    fn record(key: Key, d: &Draft) -> Record {
        Record {
            key,
            updated_at: 1,
            values: d.values.clone(),
            labels: Vec::new(),
        }
    }

    fn c1() -> Key {
        Key::new(Kind::Client, 1)
    }
    fn c2() -> Key {
        Key::new(Kind::Client, 2)
    }
    fn l1() -> Key {
        Key::new(Kind::Location, 1)
    }
    fn l2() -> Key {
        Key::new(Kind::Location, 2)
    }

    #[test]
    fn client_changes_cascade_to_its_users_locations_and_sis() {
        let name = |s: &str| ("name", Value::Text(s.into()));
        let old = record(c1(), &draft(Kind::Client, &[name("Acme")]));
        let off = draft(
            Kind::Client,
            &[name("Acme"), ("active", Value::Bool(false))],
        );
        assert_eq!(
            cascades(&old, &off),
            vec![
                Cascade::DeactivateClientUsers {
                    client: c1(),
                    reason: "client SM-C1 made inactive".into()
                },
                Cascade::Touch(Related::LocationsOfClient(c1())),
            ]
        );
        let old_off = record(c1(), &off);
        assert_eq!(
            cascades(&old_off, &draft(Kind::Client, &[name("Acme")])),
            vec![
                Cascade::Touch(Related::UsersOfClient(c1())),
                Cascade::Touch(Related::LocationsOfClient(c1())),
            ],
            "reactivation touches users but does not reactivate them"
        );
        assert_eq!(
            cascades(&old, &draft(Kind::Client, &[name("Acme Corp")])),
            vec![
                Cascade::Touch(Related::UsersOfClient(c1())),
                Cascade::Touch(Related::LocationsOfClient(c1())),
                Cascade::Touch(Related::SisOfClient(c1())),
            ]
        );
        assert_eq!(cascades(&old, &draft(Kind::Client, &[name("Acme")])), []);
    }

    #[test]
    fn a_clients_first_location_is_main_and_a_new_main_demotes_the_old() {
        let mut facts = Facts {
            existing: vec![c1()],
            ..Default::default()
        };
        let loc = |name: &str, main: bool| {
            draft(
                Kind::Location,
                &[
                    ("client", Value::Ref(c1())),
                    ("name", Value::Text(name.into())),
                    ("main", Value::Bool(main)),
                ],
            )
        };
        let mut first = loc("HQ", false);
        validate(&facts, &mut first, None).unwrap();
        assert!(first.flag("main"), "the first location is Main");
        assert_eq!(takes_main(&first, None), Some(c1()));

        facts.mains.push((c1(), l1()));
        let mut second = loc("Depot", false);
        validate(&facts, &mut second, None).unwrap();
        assert!(!second.flag("main"));
        assert_eq!(takes_main(&second, None), None);

        // Unsetting Main is refused; setting it on another location demotes the old one.
        let hq = record(l1(), &first);
        let e = validate(&facts, &mut loc("HQ", false), Some(&hq)).unwrap_err();
        assert!(e.to_string().contains("make another location Main"), "{e}");
        let depot = record(l2(), &second);
        assert_eq!(takes_main(&loc("Depot", true), Some(&depot)), Some(c1()));
        assert_eq!(takes_main(&first, Some(&hq)), None, "already Main");
    }

    #[test]
    fn two_employees_never_get_one_profile_name() {
        let (u1, u2, u3) = (
            Key::new(Kind::User, 1),
            Key::new(Kind::User, 2),
            Key::new(Kind::User, 3),
        );
        let e1 = Key::new(Kind::Employee, 1);
        let facts = Facts {
            existing: vec![u1, u2, u3],
            users: vec![
                (u1, "agent", None),
                (u2, "agent", None),
                (u3, "agent", None),
            ],
            names: vec![
                (Some(e1), u1, "Marco Rossi"),
                (None, u2, "marco rossi"),
                (None, u3, "Dana Whitfield"),
            ],
            ..Default::default()
        };
        let employee = |u: Key| draft(Kind::Employee, &[("user", Value::Ref(u))]);
        let e = validate(&facts, &mut employee(u2), None).unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("SM-U2") && msg.contains("SM-E1") && msg.contains("SM-U1"),
            "{msg}"
        );
        assert_eq!(e.exit_code(), crate::error::exit::USAGE);
        validate(&facts, &mut employee(u3), None).expect("another name is fine");

        // Renaming the user of another employee into the name is refused too.
        let facts = Facts {
            names: vec![
                (Some(e1), u1, "Marco Rossi"),
                (Some(Key::new(Kind::Employee, 2)), u3, "Dana Whitfield"),
            ],
            ..facts
        };
        let user = |first: &str, last: &str| {
            draft(
                Kind::User,
                &[
                    ("kind", Value::Text("agent".into())),
                    ("first_name", Value::Text(first.into())),
                    ("last_name", Value::Text(last.into())),
                ],
            )
        };
        let dana = record(u3, &user("Dana", "Whitfield"));
        let e = validate(&facts, &mut user("Marco", "Rossi"), Some(&dana)).unwrap_err();
        assert!(
            e.to_string().contains("SM-E2") && e.to_string().contains("SM-E1"),
            "{e}"
        );
        validate(&facts, &mut user("Dana", "Whitfield-Ng"), Some(&dana)).expect("a free name");
    }

    #[test]
    fn an_si_gets_its_clients_main_location_and_only_its_own_people() {
        let agent = Key::new(Kind::User, 1);
        let own = Key::new(Kind::User, 2);
        let foreign = Key::new(Kind::User, 3);
        let facts = Facts {
            existing: vec![c1(), c2(), l1(), l2()],
            mains: vec![(c1(), l1()), (c2(), l2())],
            location_clients: vec![(l1(), c1()), (l2(), c2())],
            users: vec![
                (agent, "agent", None),
                (own, "client", Some(c1())),
                (foreign, "client", Some(c2())),
            ],
            next_si: 1042,
            ..Default::default()
        };
        let si = |extra: &[(&str, Value)]| {
            let mut v = vec![
                ("client", Value::Ref(c1())),
                ("description", Value::Text("Fix it".into())),
            ];
            v.extend_from_slice(extra);
            draft(Kind::Si, &v)
        };
        let mut d = si(&[("people", Value::Refs(vec![agent, own]))]);
        validate(&facts, &mut d, None).unwrap();
        assert_eq!(d.get("location"), &Value::Ref(l1()));
        assert_eq!(d.get("number"), &Value::Int(1042));

        let e = validate(&facts, &mut si(&[("location", Value::Ref(l2()))]), None).unwrap_err();
        assert!(
            e.to_string().contains("does not belong to client SM-C1"),
            "{e}"
        );
        let e = validate(
            &facts,
            &mut si(&[("people", Value::Refs(vec![foreign]))]),
            None,
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("client user of another client"),
            "{e}"
        );
    }
}
