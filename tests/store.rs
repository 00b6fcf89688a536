//! The storage contract: the Service Master rules every engine must keep (one Main location
//! per client, the cascades, `updated_at` on every change path, stable keys, profiles,
//! change pages), written against `&mut dyn Store` and run once per engine by `contract!`.
//! Tests that need SQLite internals are in `sqlite_only` at the end.

mod common;

use common::*;
use smsync::error::Error;
use smsync::model::{Key, Kind, Value};
use smsync::store::{Outcome, Store};

/// Instantiates every contract test once per engine: a module per engine, named after it,
/// with one `#[test]` per contract function. A new engine adds one line here.
macro_rules! contract {
    ($($test:ident),* $(,)?) => {
        mod sqlite { $( #[test] fn $test() { super::$test(&super::common::SQLITE) } )* }
        mod postgres {
            $( #[test] fn $test() {
                if (super::common::POSTGRES.available)() {
                    super::$test(&super::common::POSTGRES)
                }
            } )*
        }
    };
}

contract!(
    first_location_is_main_and_main_moves_but_never_vanishes,
    a_clients_first_location_is_main_even_when_added_as_not_main,
    exactly_one_main_survives_a_sequence_of_edits,
    deactivating_a_client_deactivates_its_users_and_touches_its_contacts,
    synced_counts_follow_the_client_active_flag,
    updated_at_moves_on_every_change_path,
    an_edit_that_changes_nothing_touches_nothing,
    change_times_strictly_increase_across_transactions,
    keys_are_stable_across_edits_and_reopening,
    si_rules_default_main_location_and_validate_people,
    profiles_must_match_one_employee_exactly,
    reset_clears_stamps_so_everything_is_pending,
    scale_seed_is_deterministic_per_seed,
    seeding_refuses_a_database_that_holds_data,
    sample_has_the_promised_shape,
    a_record_found_in_a_transaction_is_never_written_back_stale,
    change_pages_cover_every_record_once_when_many_share_one_change_time,
    unsynced_writes_commit_and_an_error_rolls_them_back,
    adds_in_one_transaction_see_each_other_and_a_failed_savepoint_leaves_nothing,
    a_transaction_referring_to_many_earlier_records_checks_them_as_one_at_a_time,
    an_export_state_read_with_its_record_is_never_answered_stale,
    dirty_changes_give_each_stale_item_as_its_parts_do,
    records_read_ahead_are_never_answered_stale,
    records_read_on_another_connection_are_never_answered_stale,
    the_synced_set_comes_in_key_order_each_record_once_past_a_page,
);

/// An export state of hash `hash`, held by outputs `held`, current in `current`.
fn state(hash: u64, held: u32, current: u32) -> smsync::store::Exported {
    smsync::store::Exported {
        hash,
        status: None,
        values: format!("{{\"n\":{hash}}}"),
        updated_at: 1,
        held,
        current,
    }
}

fn mains(store: &dyn Store, client: Key) -> Vec<Key> {
    all(store, Kind::Location)
        .into_iter()
        .filter(|l| l.get("client") == &Value::Ref(client) && l.get("main") == &Value::Bool(true))
        .map(|l| l.key)
        .collect()
}

fn stamp(store: &dyn Store, key: Key) -> i64 {
    store.get(key).unwrap().updated_at
}

fn first_location_is_main_and_main_moves_but_never_vanishes(e: &Engine) {
    let (_d, mut store) = e.new_store();
    let s = store.as_mut();
    let (c, locs, _) = client_with(s, "Acme", 3, 0);
    assert_eq!(
        mains(s, c),
        vec![locs[0]],
        "the first location becomes Main"
    );

    set(s, locs[2], &[("main", "true")]);
    assert_eq!(mains(s, c), vec![locs[2]], "Main moves to the new one");

    let err = try_set(s, locs[2], &[("main", "false")]).unwrap_err();
    assert!(matches!(err, Error::Invalid(_)), "{err}");
    assert!(err.to_string().contains("another location Main"), "{err}");
    assert_eq!(mains(s, c), vec![locs[2]]);

    // Adding a location that claims Main takes it over.
    let l4 = add(
        s,
        Kind::Location,
        &[
            ("client", &c.to_string()),
            ("name", "New HQ"),
            ("main", "true"),
        ],
    );
    assert_eq!(mains(s, c), vec![l4]);
    // That the database itself refuses a second Main: `sqlite_only`.
}

fn a_clients_first_location_is_main_even_when_added_as_not_main(e: &Engine) {
    let (_d, mut store) = e.new_store();
    let s = store.as_mut();
    let c = add(s, Kind::Client, &[("name", "Solo")]);
    // The very first location may say main=false; it becomes Main anyway (there is no other).
    let l = add(
        s,
        Kind::Location,
        &[
            ("client", &c.to_string()),
            ("name", "Only"),
            ("main", "false"),
        ],
    );
    assert_eq!(mains(s, c), vec![l]);
    // Each client's Main is its own.
    let (c2, l2, _) = client_with(s, "Other", 2, 0);
    assert_eq!(mains(s, c2), vec![l2[0]]);
    assert_eq!(mains(s, c), vec![l]);
}

fn exactly_one_main_survives_a_sequence_of_edits(e: &Engine) {
    let (_d, mut store) = e.new_store();
    let s = store.as_mut();
    let mut clients = Vec::new();
    for i in 0..4 {
        clients.push(client_with(s, &format!("C{i}"), 1 + i, 0));
    }
    // A deterministic walk over main=true/false, deactivation and new locations.
    let mut x: u64 = 7;
    for step in 0..200 {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let (c, locs, _) = &mut clients[(x >> 33) as usize % 4];
        let l = locs[(x >> 40) as usize % locs.len()];
        match (x >> 50) % 4 {
            0 => {
                set(s, l, &[("main", "true")]);
            }
            1 => {
                let _ = try_set(s, l, &[("main", "false")]);
            }
            2 => {
                let v = if step % 2 == 0 { "false" } else { "true" };
                set(s, l, &[("active", v)]);
            }
            _ => {
                let k = add(
                    s,
                    Kind::Location,
                    &[
                        ("client", &c.to_string()),
                        ("name", &format!("Step {step}")),
                    ],
                );
                locs.push(k);
            }
        }
        for (c, _, _) in &clients {
            assert_eq!(mains(s, *c).len(), 1, "client {c} after step {step}");
        }
    }
}

fn deactivating_a_client_deactivates_its_users_and_touches_its_contacts(e: &Engine) {
    let (_d, mut store) = e.new_store();
    let s = store.as_mut();
    let (c, locs, users) = client_with(s, "Acme", 2, 3);
    let (other, other_locs, other_users) = client_with(s, "Bystander", 1, 1);
    let agent = add(
        s,
        Kind::User,
        &[
            ("kind", "agent"),
            ("first_name", "Dana"),
            ("last_name", "W"),
        ],
    );
    let before: Vec<i64> = locs.iter().chain(&users).map(|k| stamp(s, *k)).collect();
    let untouched: Vec<i64> = [other, other_locs[0], other_users[0], agent]
        .iter()
        .map(|k| stamp(s, *k))
        .collect();

    set(s, c, &[("active", "false")]);
    let now = stamp(s, c);
    for (k, b) in locs.iter().chain(&users).zip(&before) {
        let r = s.get(*k).unwrap();
        assert!(r.updated_at > *b, "{k} not touched");
        assert_eq!(r.updated_at, now, "{k} touched in the same change");
    }
    for u in &users {
        assert_eq!(s.get(*u).unwrap().get("active"), &Value::Bool(false), "{u}");
    }
    for l in &locs {
        // Locations keep their own flag: they return when the client does.
        assert_eq!(s.get(*l).unwrap().get("active"), &Value::Bool(true), "{l}");
    }
    let after: Vec<i64> = [other, other_locs[0], other_users[0], agent]
        .iter()
        .map(|k| stamp(s, *k))
        .collect();
    assert_eq!(
        untouched, after,
        "records of other clients and agents untouched"
    );

    // Reactivation touches them all again, but users stay inactive until reactivated.
    let mid: Vec<i64> = locs.iter().chain(&users).map(|k| stamp(s, *k)).collect();
    set(s, c, &[("active", "true")]);
    for (k, b) in locs.iter().chain(&users).zip(&mid) {
        assert!(stamp(s, *k) > *b, "{k} not touched by reactivation");
    }
    for u in &users {
        assert_eq!(s.get(*u).unwrap().get("active"), &Value::Bool(false), "{u}");
    }
    set(s, users[0], &[("active", "true")]);
    assert_eq!(s.get(users[0]).unwrap().get("active"), &Value::Bool(true));
}

fn synced_counts_follow_the_client_active_flag(e: &Engine) {
    let (_d, mut store) = e.sample_store();
    let s = store.as_mut();
    let p = s.profiles().unwrap().remove(0);
    let before = s.sync_counts(&p).unwrap();
    let client = all(s, Kind::Client)[0].key;
    let locs = all(s, Kind::Location)
        .iter()
        .filter(|l| l.get("client") == &Value::Ref(client))
        .count() as u64;
    let users = all(s, Kind::User)
        .iter()
        .filter(|u| u.get("client") == &Value::Ref(client))
        .count() as u64;
    assert!(locs > 0 && users > 0);
    set(s, client, &[("active", "false")]);
    let off = s.sync_counts(&p).unwrap();
    assert_eq!(off.contacts, before.contacts - locs - users);
    set(s, client, &[("active", "true")]);
    let back = s.sync_counts(&p).unwrap();
    assert_eq!(
        back.contacts,
        before.contacts - users,
        "only locations come back"
    );
}

fn updated_at_moves_on_every_change_path(e: &Engine) {
    let (_d, mut store) = e.sample_store();
    let s = store.as_mut();
    // Direct edits of every kind.
    let cases: Vec<(Key, Vec<(&str, &str)>)> = vec![
        (
            Key::new(Kind::Client, 1),
            vec![("name", "Acme Industrial Supply Inc.")],
        ),
        (Key::new(Kind::Location, 2), vec![("phone", "+1 555 0000")]),
        (Key::new(Kind::User, 1), vec![("job_title", "CIO")]),
        (Key::new(Kind::Tech, 1), vec![("notes", "24/7 line")]),
        (
            Key::new(Kind::Si, 1001),
            vec![("status", "Completion Requested")],
        ),
        (Key::new(Kind::Si, 1002), vec![("people", "")]),
    ];
    for (key, pairs) in cases {
        let before = stamp(s, key);
        assert_eq!(set(s, key, &pairs), Outcome::Changed, "{key}");
        assert!(stamp(s, key) > before, "{key} {pairs:?}");
    }

    // A client rename changes the category of its contacts and tasks: all are touched.
    let si = s.get(Key::new(Kind::Si, 1006)).unwrap();
    let client = si.get("client").as_ref_key().unwrap();
    let before = si.updated_at;
    set(s, client, &[("name", "Renamed Client")]);
    let si = s.get(Key::new(Kind::Si, 1006)).unwrap();
    assert!(si.updated_at > before);
    assert_eq!(si.text("category"), "Renamed Client");

    // A location rename touches the SIs at that location.
    let loc = si.get("location").as_ref_key().unwrap();
    let before = si.updated_at;
    set(s, loc, &[("name", "Renamed Site")]);
    assert!(stamp(s, si.key) > before);

    // A person rename touches their SIs and, for an agent, their employee record.
    let p = s.profiles().unwrap().remove(0);
    let agent = p.user;
    let agent_si = all(s, Kind::Si)
        .into_iter()
        .find(|r| matches!(r.get("people"), Value::Refs(v) if v.contains(&agent)))
        .expect("an SI with the agent");
    let (b_si, b_emp) = (agent_si.updated_at, stamp(s, p.employee));
    set(s, agent, &[("last_name", "Whitfield-Ng")]);
    assert!(stamp(s, agent_si.key) > b_si);
    assert!(stamp(s, p.employee) > b_emp);
    assert_eq!(s.profiles().unwrap()[0].name, "Dana Whitfield-Ng");

    // Moving Main touches the old Main too.
    let (c, locs, _) = client_with(s, "Mover", 2, 0);
    let old_main = stamp(s, locs[0]);
    set(s, locs[1], &[("main", "true")]);
    assert!(stamp(s, locs[0]) > old_main);
    let _ = c;

    // Sync stamps and reset touch the employee record.
    let before = stamp(s, p.employee);
    s.write(&mut |w| w.set_stamps(p.employee, Some(5), Some(6)))
        .unwrap();
    assert!(stamp(s, p.employee) > before);
    let before = stamp(s, p.employee);
    s.reset(&p).unwrap();
    assert!(stamp(s, p.employee) > before);
}

fn an_edit_that_changes_nothing_touches_nothing(e: &Engine) {
    let (_d, mut store) = e.sample_store();
    let s = store.as_mut();
    let k = Key::new(Kind::User, 2);
    let r = s.get(k).unwrap();
    let before = r.updated_at;
    let title = r.text("job_title").to_string();
    assert_eq!(set(s, k, &[("job_title", &title)]), Outcome::Unchanged);
    assert_eq!(stamp(s, k), before);
}

fn change_times_strictly_increase_across_transactions(e: &Engine) {
    let (_d, mut store) = e.new_store();
    let s = store.as_mut();
    let mut last = 0;
    for i in 0..50 {
        let k = add(s, Kind::Client, &[("name", &format!("C{i}"))]);
        let t = stamp(s, k);
        assert!(
            t > last,
            "transaction {i} did not move the clock: {t} <= {last}"
        );
        last = t;
    }
}

fn keys_are_stable_across_edits_and_reopening(e: &Engine) {
    let dir = e.place();
    let mut store = (e.create)(dir.path());
    let s = store.as_mut();
    smsync::seed::sample(s).unwrap();
    let snapshot = |s: &dyn Store| -> Vec<(String, String)> {
        Kind::ALL
            .iter()
            .flat_map(|&k| all(s, k))
            .map(|r| (r.key.to_string(), smsync::admin::label(&r)))
            .collect()
    };
    let first = snapshot(s);
    assert!(first.iter().any(|(k, _)| k == "SI-1001"));
    assert!(first.iter().any(|(k, _)| k == "SM-L1"));
    let loc = Key::new(Kind::Location, 3);
    set(s, loc, &[("phone", "+1 000")]);
    set(s, Key::new(Kind::Si, 1003), &[("description", "Edited")]);
    assert_eq!(s.get(loc).unwrap().key, loc);
    assert_eq!(s.get(loc).unwrap().text("key"), "SM-L3");
    drop(store);
    let again = snapshot((e.reopen)(dir.path()).as_ref());
    let keys = |v: &[(String, String)]| v.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>();
    assert_eq!(keys(&first), keys(&again));
}

fn si_rules_default_main_location_and_validate_people(e: &Engine) {
    let (_d, mut store) = e.new_store();
    let s = store.as_mut();
    let (c, locs, users) = client_with(s, "Acme", 2, 1);
    let (c2, locs2, users2) = client_with(s, "Other", 1, 1);
    let si = add(
        s,
        Kind::Si,
        &[("client", &c.to_string()), ("description", "Fix it")],
    );
    let r = s.get(si).unwrap();
    assert_eq!(
        r.get("location"),
        &Value::Ref(locs[0]),
        "Main location by default"
    );
    assert_eq!(r.text("status"), "In Progress");
    assert_eq!(si, Key::new(Kind::Si, 1), "first SI number");

    let e = try_add(
        s,
        Kind::Si,
        &[
            ("client", &c.to_string()),
            ("description", "Wrong site"),
            ("location", &locs2[0].to_string()),
        ],
    )
    .unwrap_err();
    assert!(e.to_string().contains("does not belong"), "{e}");

    let e = try_set(s, si, &[("people", &users2[0].to_string())]).unwrap_err();
    assert!(e.to_string().contains("another client"), "{e}");
    set(s, si, &[("people", &users[0].to_string())]);

    let e = try_add(s, Kind::Si, &[("client", &c2.to_string())]).unwrap_err();
    assert!(e.to_string().contains("description is required"), "{e}");

    set(s, si, &[("status", "Closed")]);
    assert!(s.get(si).unwrap().get("completed").as_date().is_some());
    set(s, si, &[("status", "In Progress")]);
    assert!(
        s.get(si).unwrap().get("completed").is_null(),
        "reopening clears completion"
    );
}

fn profiles_must_match_one_employee_exactly(e: &Engine) {
    let (_d, mut store) = e.sample_store();
    let s = store.as_mut();
    assert_eq!(s.profile("Dana Whitfield").unwrap().name, "Dana Whitfield");

    let e = s.profile("Nobody Here").unwrap_err();
    assert!(matches!(e, Error::NotFound(_)));
    assert!(e.to_string().contains("Dana Whitfield, Marco Rossi"), "{e}");

    let e = s.profile("dana whitfield").unwrap_err();
    assert!(
        e.to_string().contains("did you mean 'Dana Whitfield'"),
        "{e}"
    );

    // A second employee with the same name would share Dana's folder: refused, naming
    // both records; so is renaming another employee's user into the name.
    let dana = s.profile("Dana Whitfield").unwrap();
    let twin = add(
        s,
        Kind::User,
        &[
            ("kind", "agent"),
            ("first_name", "Dana"),
            ("last_name", "Whitfield"),
        ],
    );
    let e = try_add(s, Kind::Employee, &[("user", &twin.to_string())]).unwrap_err();
    assert!(matches!(e, Error::Invalid(_)));
    let msg = e.to_string();
    assert!(
        msg.contains(&twin.to_string()) && msg.contains(&dana.employee.to_string()),
        "{msg}"
    );
    set(s, twin, &[("last_name", "Whitfield-Twin")]);
    let employee = add(s, Kind::Employee, &[("user", &twin.to_string())]);
    let e = try_set(s, twin, &[("last_name", "WHITFIELD")]).unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains(&employee.to_string()) && msg.contains(&dana.employee.to_string()),
        "{msg}"
    );
    assert_eq!(s.profiles().unwrap().len(), 3, "nothing else changed");

    // A non-employee namesake does not count; a client user cannot be an employee.
    let client_user = all(s, Kind::User)
        .into_iter()
        .find(|u| u.text("kind") == "client")
        .unwrap();
    let e = try_add(s, Kind::Employee, &[("user", &client_user.key.to_string())]).unwrap_err();
    assert!(e.to_string().contains("only service agents"), "{e}");
}

fn reset_clears_stamps_so_everything_is_pending(e: &Engine) {
    let (_d, mut store) = e.sample_store();
    let s = store.as_mut();
    let p = s.profile("Marco Rossi").unwrap();
    let stamp = s.get(p.employee).unwrap().updated_at;
    s.write(&mut |w| w.set_stamps(p.employee, Some(stamp), Some(stamp)))
        .unwrap();
    let p = s.profile("Marco Rossi").unwrap();
    let c = s.sync_counts(&p).unwrap();
    assert!(c.contacts_pending < c.contacts, "{c:?}");
    s.reset(&p).unwrap();
    let p = s.profile("Marco Rossi").unwrap();
    assert_eq!((p.contacts_stamp, p.tasks_stamp), (None, None));
    let c = s.sync_counts(&p).unwrap();
    assert_eq!(c.contacts_pending, c.contacts);
    assert_eq!(c.tasks_pending, c.tasks);
}

fn scale_seed_is_deterministic_per_seed(e: &Engine) {
    let dump = |seed: u64| -> Vec<serde_json::Value> {
        let (_d, mut store) = e.new_store();
        let s = store.as_mut();
        let n = smsync::seed::scale(s, 600, None, seed, false).unwrap();
        assert_eq!(n.contacts(), 600);
        assert_eq!(n.sis, 60);
        Kind::ALL
            .iter()
            .flat_map(|&k| all(s, k))
            .map(|r| {
                let mut j = r.to_json();
                j.as_object_mut().unwrap().remove("updated_at");
                j
            })
            .collect()
    };
    let a = dump(7);
    assert_eq!(a, dump(7));
    assert_ne!(a, dump(8));
}

fn seeding_refuses_a_database_that_holds_data(e: &Engine) {
    let (_d, mut store) = e.sample_store();
    let s = store.as_mut();
    let e = smsync::seed::sample(s).unwrap_err();
    assert!(e.to_string().contains("only an empty database"), "{e}");
    let e = smsync::seed::scale(s, 10, None, 1, false).unwrap_err();
    assert!(e.to_string().contains("only an empty database"), "{e}");
}

fn sample_has_the_promised_shape(e: &Engine) {
    let (_d, store) = e.sample_store();
    let s = store.as_ref();
    let clients = all(s, Kind::Client);
    assert_eq!(clients.len(), 5);
    assert!(clients.iter().any(|c| c.text("name") == "Café Müller GmbH"));
    for c in &clients {
        let n = all(s, Kind::Location)
            .iter()
            .filter(|l| l.get("client") == &Value::Ref(c.key))
            .count();
        assert!((2..=4).contains(&n), "{} has {n} locations", c.key);
        assert_eq!(mains(s, c.key).len(), 1);
    }
    let users = all(s, Kind::User);
    assert_eq!(
        users.iter().filter(|u| u.text("kind") == "agent").count(),
        4
    );
    assert_eq!(s.profiles().unwrap().len(), 2);
    assert_eq!(all(s, Kind::Tech).len(), 10);
    let sis = all(s, Kind::Si);
    assert_eq!(sis.len(), 20);
    for st in ["In Progress", "Completion Requested", "Closed"] {
        assert!(sis.iter().any(|r| r.text("status") == st), "no {st} SI");
    }
}

fn a_record_found_in_a_transaction_is_never_written_back_stale(e: &Engine) {
    let (_d, mut store) = e.sample_store();
    let s = store.as_mut();
    let k = Key::new(Kind::Tech, 1);
    let phone = smsync::fields::get(Kind::Tech, "phone").unwrap();
    let notes = smsync::fields::get(Kind::Tech, "notes").unwrap();
    s.write(&mut |w| {
        w.find(k)?;
        w.set(k, &[(phone, Value::Text("+1 1".into()))])?;
        // The second change must see the first, not the record found before it.
        w.set(k, &[(notes, Value::Text("n".into()))])?;
        w.find(k)?;
        w.set(
            Key::new(Kind::Tech, 2),
            &[(notes, Value::Text("other".into()))],
        )?;
        w.set(k, &[(notes, Value::Text("n2".into()))])?;
        Ok(())
    })
    .unwrap();
    let r = s.get(k).unwrap();
    assert_eq!((r.text("phone"), r.text("notes")), ("+1 1", "n2"));
    assert_eq!(
        s.get(Key::new(Kind::Tech, 2)).unwrap().text("notes"),
        "other"
    );
}

fn the_synced_set_comes_in_key_order_each_record_once_past_a_page(e: &Engine) {
    // More users than SQLite's engine reads in one statement (1,024), some out of the set.
    let (_d, mut store) = e.new_store();
    let s = store.as_mut();
    smsync::seed::scale(s, 4_000, Some(300), 5, false).unwrap();
    let users = all(s, Kind::User);
    assert!(users.len() > 2 * 1024, "{} users", users.len());
    for u in users.iter().step_by(97) {
        set(s, u.key, &[("active", "false")]);
    }
    for kind in [Kind::Location, Kind::User, Kind::Tech, Kind::Si] {
        let mut want: Vec<Key> = all(s, kind)
            .into_iter()
            .map(|r| r.key)
            .filter(|k| s.in_synced_set(*k).unwrap())
            .collect();
        want.sort_by_key(|k| k.id);
        let mut got = Vec::new();
        s.for_each_synced(kind, &mut |r| {
            got.push(r.key);
            Ok(())
        })
        .unwrap();
        assert_eq!(got.len(), want.len(), "{kind}");
        assert!(got == want, "{kind}: the synced set in key order");
    }
}

fn change_pages_cover_every_record_once_when_many_share_one_change_time(e: &Engine) {
    use smsync::store::Cursor;
    // A seed writes thousands of records per transaction, so one change time covers more
    // rows than a page; later edits add rows with their own, later change times.
    let (_d, mut store) = e.new_store();
    let s = store.as_mut();
    smsync::seed::scale(s, 900, None, 3, false).unwrap();
    let users = all(s, Kind::User);
    for u in users.iter().step_by(50) {
        set(s, u.key, &[("mobile", "+1 555 000 1111")]);
    }
    let employee = s.profiles().unwrap()[0].employee;
    let upto = s.clock().unwrap();
    let shared = users
        .iter()
        .filter(|u| u.updated_at == users[1].updated_at)
        .count();
    for page in [1usize, 7, 50, shared, shared + 1, 10_000] {
        let mut cursor = Cursor {
            updated_at: i64::MIN,
            row: i64::MIN,
        };
        let mut seen: Vec<(i64, Key)> = Vec::new();
        loop {
            let got = s
                .changes(Kind::User, employee, None, upto, cursor, page)
                .unwrap();
            assert!(got.len() <= page);
            for c in &got {
                seen.push((c.record.updated_at, c.record.key));
            }
            match got.last() {
                Some(last) if got.len() == page => cursor = last.cursor,
                _ => break,
            }
        }
        let mut expected: Vec<(i64, Key)> = all(s, Kind::User)
            .iter()
            .map(|u| (u.updated_at, u.key))
            .collect();
        expected.sort_by_key(|&(t, k)| (t, k.id));
        assert!(shared > 7, "the seed shares change times ({shared})");
        assert_eq!(seen, expected, "page size {page}");
        // A later window (since = the seed's change time) sees only the edits.
        let since = users.iter().map(|u| u.updated_at).max();
        let later = s
            .changes(Kind::User, employee, since, upto, Cursor::default(), 10_000)
            .unwrap();
        assert_eq!(later.len(), users.iter().step_by(50).count());
    }
}

fn unsynced_writes_commit_and_an_error_rolls_them_back(e: &Engine) {
    let (_d, mut store) = e.sample_store();
    let s = store.as_mut();
    let key = Key::new(Kind::Tech, 1);
    let mobile = smsync::fields::get(Kind::Tech, "mobile").unwrap();
    let fields = [(mobile, Value::Text("+1 UNSYNCED".into()))];
    s.write_unsynced(&mut |w| w.set(key, &fields).map(|_| ()))
        .unwrap();
    assert_eq!(s.get(key).unwrap().text("mobile"), "+1 UNSYNCED");
    let other = [(mobile, Value::Text("+1 ROLLED BACK".into()))];
    let err = s.write_unsynced(&mut |w| {
        w.set(key, &other)?;
        Err(Error::invalid("stop"))
    });
    assert!(err.is_err());
    assert_eq!(
        s.get(key).unwrap().text("mobile"),
        "+1 UNSYNCED",
        "rolled back"
    );
}

/// Many writes in one transaction, as a seed or an ingest batch makes them: each sees the
/// ones before it (PostgreSQL queues added rows and keeps what it learned; the answers must
/// be SQLite's), and a savepoint that fails leaves nothing behind, not even what the
/// transaction learned inside it.
fn adds_in_one_transaction_see_each_other_and_a_failed_savepoint_leaves_nothing(e: &Engine) {
    use smsync::admin::assign;
    use smsync::store::{Source, Writer};
    let (_d, mut store) = e.new_store();
    let s = store.as_mut();
    let add = |w: &mut dyn Writer, kind: Kind, pairs: &[(&str, &str)]| {
        let values = assign(&*w, kind, pairs)?;
        w.add(kind, &values)
    };
    let mut keys: Vec<Key> = Vec::new();
    s.write(&mut |w| {
        w.set_source(Some(Source::admin()));
        let a = add(w, Kind::Client, &[("name", "Alpha")])?;
        let l1 = add(
            w,
            Kind::Location,
            &[("client", &a.to_string()), ("name", "One")],
        )?;
        let l2 = add(
            w,
            Kind::Location,
            &[
                ("client", &a.to_string()),
                ("name", "Two"),
                ("main", "true"),
            ],
        )?;
        // The name is taken by the row added just before, and Main has moved.
        let again = w.savepoint(&mut |w| {
            add(
                w,
                Kind::Location,
                &[("client", &a.to_string()), ("name", "Two")],
            )
            .map(|_| ())
        });
        assert!(matches!(again, Err(Error::Invalid(_))), "{again:?}");
        assert_eq!(w.get(l1)?.get("main"), &Value::Bool(false));
        let dup = w.savepoint(&mut |w| add(w, Kind::Client, &[("name", "Alpha")]).map(|_| ()));
        assert!(matches!(dup, Err(Error::Invalid(_))), "{dup:?}");
        let u = add(
            w,
            Kind::User,
            &[
                ("kind", "client"),
                ("client", &a.to_string()),
                ("first_name", "Ann"),
                ("last_name", "Lee"),
            ],
        )?;
        let si1 = add(
            w,
            Kind::Si,
            &[
                ("client", &a.to_string()),
                ("description", "a"),
                ("people", &u.to_string()),
            ],
        )?;
        let si2 = add(
            w,
            Kind::Si,
            &[
                ("client", &a.to_string()),
                ("description", "b"),
                ("number", "7"),
            ],
        )?;
        let si3 = add(
            w,
            Kind::Si,
            &[("client", &a.to_string()), ("description", "c")],
        )?;
        let taken = w.savepoint(&mut |w| {
            add(
                w,
                Kind::Si,
                &[
                    ("client", &a.to_string()),
                    ("description", "d"),
                    ("number", "8"),
                ],
            )
            .map(|_| ())
        });
        assert!(
            matches!(taken, Err(Error::Invalid(_))),
            "SI-8 exists: {taken:?}"
        );
        // A savepoint that fails after adding: its rows and what was learned go.
        let mut gone = None;
        let failed = w.savepoint(&mut |w| {
            let b = add(w, Kind::Client, &[("name", "Beta")])?;
            add(
                w,
                Kind::Location,
                &[("client", &b.to_string()), ("name", "B1")],
            )?;
            gone = Some(b);
            Err(Error::invalid("stop"))
        });
        assert!(failed.is_err());
        let gone = gone.expect("added before failing");
        let missing = w.savepoint(&mut |w| {
            add(
                w,
                Kind::Location,
                &[("client", &gone.to_string()), ("name", "B2")],
            )
            .map(|_| ())
        });
        assert!(matches!(missing, Err(Error::NotFound(_))), "{missing:?}");
        let c = add(w, Kind::Client, &[("name", "Beta")])?;
        // Two savepoints that end well, one after the other.
        let mut v = None;
        w.savepoint(&mut |w| {
            v = Some(add(w, Kind::Tech, &[("company", "V")])?);
            Ok(())
        })?;
        let mut t = None;
        w.savepoint(&mut |w| {
            t = Some(add(w, Kind::Tech, &[("company", "W")])?);
            Ok(())
        })?;
        keys = vec![a, l1, l2, u, si1, si2, si3, gone, c, v.unwrap(), t.unwrap()];
        Ok(())
    })
    .unwrap();
    let [a, l1, l2, u, si1, si2, si3, gone, c, v, t] = keys[..] else {
        panic!("{keys:?}")
    };
    assert_eq!(mains(s, a), vec![l2]);
    assert_eq!((l1.id + 1, l2.id), (l2.id, l2.id));
    assert_eq!((si1.id, si2.id, si3.id), (1, 7, 8));
    assert_eq!(s.get(si1).unwrap().get("people"), &Value::Refs(vec![u]));
    assert_eq!(s.get(si1).unwrap().get("location"), &Value::Ref(l2));
    // The rolled-back client's id is given again, as SQLite gives ids.
    assert_eq!(c, gone);
    assert_eq!(s.get(c).unwrap().text("name"), "Beta");
    assert_eq!(all(s, Kind::Location).len(), 2);
    assert_eq!((v.id, t.id), (1, 2));
    // One journal row per record added, in the order of the adds.
    let mut added = Vec::new();
    s.journal_entries(None, 100, &mut |j| {
        if j.outcome == "added" {
            added.push(j.item.unwrap_or_default());
        }
        Ok(())
    })
    .unwrap();
    added.reverse();
    let want: Vec<String> = [a, l1, l2, u, si1, si2, si3, c, v, t]
        .iter()
        .map(|k| k.to_string())
        .collect();
    assert_eq!(added, want);
}

/// One transaction that refers to hundreds of records written before it, as a seed or a
/// batch does: every name, Main location, reference and SI person is checked as when it
/// comes alone (PostgreSQL reads neighbouring ids and, past a few hundred new client names,
/// every client name at once; the answers must be SQLite's).
fn a_transaction_referring_to_many_earlier_records_checks_them_as_one_at_a_time(e: &Engine) {
    use smsync::admin::assign;
    use smsync::store::{Source, Writer};
    const N: usize = 300;
    let (_d, mut store) = e.new_store();
    let s = store.as_mut();
    let add = |w: &mut dyn Writer, kind: Kind, pairs: &[(&str, &str)]| {
        let values = assign(&*w, kind, pairs)?;
        w.add(kind, &values)
    };
    // An attempt that must fail, in a savepoint as ingest makes them.
    let refused = |w: &mut dyn Writer, kind: Kind, pairs: &[(&str, &str)]| {
        let r = w.savepoint(&mut |w| add(w, kind, pairs).map(|_| ()));
        r.expect_err(&format!("{kind} {pairs:?} was added"))
    };
    let mut old = Vec::new();
    s.write(&mut |w| {
        for i in 0..N {
            let c = add(w, Kind::Client, &[("name", &format!("Old {i:03}"))])?;
            let cs = c.to_string();
            let l = add(w, Kind::Location, &[("client", &cs), ("name", "Site")])?;
            let u = add(
                w,
                Kind::User,
                &[
                    ("kind", "client"),
                    ("client", &cs),
                    ("first_name", "U"),
                    ("last_name", &format!("{i}")),
                ],
            )?;
            old.push((c, l, u));
        }
        Ok(())
    })
    .unwrap();
    let mut added = Vec::new();
    s.write(&mut |w| {
        w.set_source(Some(Source::admin()));
        // More new names than PostgreSQL looks up one by one.
        let mut news = Vec::new();
        for i in 0..N {
            news.push(add(w, Kind::Client, &[("name", &format!("New {i:03}"))])?);
        }
        for name in ["Old 000", "Old 150", "Old 299", "New 000", "New 299"] {
            let err = refused(w, Kind::Client, &[("name", name)]);
            assert!(matches!(err, Error::Invalid(_)), "{name}: {err}");
        }
        // Downwards, with nothing sent in between: later reads cover clients whose
        // locations this transaction added (an old client has a Main: these are not).
        let some = [N - 1, 150, 70, 0];
        for i in some {
            let cs = old[i].0.to_string();
            added.push(add(
                w,
                Kind::Location,
                &[("client", &cs), ("name", "Annex")],
            )?);
        }
        for i in some {
            let cs = old[i].0.to_string();
            for name in ["Annex", "Site"] {
                let err = refused(w, Kind::Location, &[("client", &cs), ("name", name)]);
                assert!(matches!(err, Error::Invalid(_)), "{cs} {name}: {err}");
            }
        }
        for (n, i) in some.into_iter().enumerate() {
            let cs = old[i].0.to_string();
            // SI people: a user of this client, never of the next one.
            let (_, next_loc, next_user) = old[(i + 1) % N];
            let err = refused(
                w,
                Kind::Si,
                &[
                    ("client", &cs),
                    ("description", "x"),
                    ("people", &next_user.to_string()),
                ],
            );
            assert!(matches!(err, Error::Invalid(_)), "{cs}: {err}");
            let err = refused(
                w,
                Kind::Si,
                &[
                    ("client", &cs),
                    ("description", "x"),
                    ("location", &next_loc.to_string()),
                ],
            );
            assert!(matches!(err, Error::Invalid(_)), "{cs}: {err}");
            add(
                w,
                Kind::Si,
                &[
                    ("client", &cs),
                    ("description", "ok"),
                    ("people", &old[i].2.to_string()),
                    ("location", &added[n].to_string()),
                ],
            )?;
        }
        // A new client's first location is its Main.
        added.push(add(
            w,
            Kind::Location,
            &[("client", &news[5].to_string()), ("name", "Site")],
        )?);
        let far = Key::new(Kind::Client, 1_000_000);
        let err = refused(
            w,
            Kind::Location,
            &[("client", &far.to_string()), ("name", "X")],
        );
        assert!(matches!(err, Error::NotFound(_)), "{err}");
        // Renamed records free their names and take the new ones.
        let (c2, l2, _) = old[2];
        let values = assign(&*w, Kind::Client, &[("name", "Renamed")])?;
        w.set(c2, &values)?;
        let values = assign(&*w, Kind::Location, &[("name", "Moved")])?;
        w.set(l2, &values)?;
        add(w, Kind::Client, &[("name", "Old 002")])?;
        let err = refused(w, Kind::Client, &[("name", "Renamed")]);
        assert!(matches!(err, Error::Invalid(_)), "{err}");
        added.push(add(
            w,
            Kind::Location,
            &[("client", &c2.to_string()), ("name", "Site")],
        )?);
        let err = refused(
            w,
            Kind::Location,
            &[("client", &c2.to_string()), ("name", "Moved")],
        );
        assert!(matches!(err, Error::Invalid(_)), "{err}");
        Ok(())
    })
    .unwrap();
    assert_eq!(all(s, Kind::Client).len(), 2 * N + 1);
    let mains_now: Vec<bool> = added
        .iter()
        .map(|l| s.get(*l).unwrap().get("main") == &Value::Bool(true))
        .collect();
    assert_eq!(mains_now, [false, false, false, false, true, false]);
    assert_eq!(all(s, Kind::Si).len(), 4);
}

/// An ingest asks for a record and then for the profile's export state of it, item after
/// item; PostgreSQL reads the state with the record. Whatever is written in between, and
/// whichever profile is asked, the answer is the state as it is now.
fn an_export_state_read_with_its_record_is_never_answered_stale(e: &Engine) {
    use smsync::store::Writer;
    let (_d, mut store) = e.sample_store();
    let s = store.as_mut();
    let employees: Vec<Key> = all(s, Kind::Employee).iter().map(|r| r.key).collect();
    let (emp, other) = (employees[0], employees[1]);
    let u = Key::new(Kind::User, 2);
    let state = |hash: u64| state(hash, 3, 3);
    let hash = |w: &dyn Writer| w.exported(emp, u).unwrap().map(|x| (x.hash, x.current));
    s.write(&mut |w| {
        w.put_exported(emp, u, &state(1))?;
        w.put_exported(other, u, &state(9))?;
        assert_eq!(hash(w), Some((1, 3)));
        w.find(u)?;
        w.mark_dirty(emp, u)?;
        assert_eq!(hash(w), Some((1, 0)), "after mark_dirty");
        w.find(u)?;
        w.put_exported(emp, u, &state(2))?;
        assert_eq!(hash(w), Some((2, 3)), "after put_exported");
        w.find(u)?;
        assert_eq!(
            w.exported(other, u)?.map(|x| x.hash),
            Some(9),
            "another profile"
        );
        w.find(u)?;
        w.delete_exported(emp, u)?;
        assert_eq!(hash(w), None, "after delete_exported");
        w.put_exported(emp, u, &state(3))?;
        assert_eq!(hash(w), Some((3, 3)));
        let undone = w.savepoint(&mut |w| {
            w.put_exported(emp, u, &state(4))?;
            w.find(u)?;
            Err(smsync::error::Error::invalid("stop"))
        });
        assert!(undone.is_err());
        assert_eq!(hash(w), Some((3, 3)), "after a savepoint rolled back");
        Ok(())
    })
    .unwrap();
}

/// The export's stale pass reads the items an ingest marked stale in one statement: the
/// same items, in key order, each with what `find`, `in_synced_set` and `exported` give,
/// and `None` for an item whose record is gone.
fn dirty_changes_give_each_stale_item_as_its_parts_do(e: &Engine) {
    let (_d, mut store) = e.sample_store();
    let s = store.as_mut();
    let employees: Vec<Key> = all(s, Kind::Employee).iter().map(|r| r.key).collect();
    let (emp, other) = (employees[0], employees[1]);
    let users: Vec<Key> = all(s, Kind::User).iter().map(|r| r.key).collect();
    assert!(users.len() >= 5, "the sample has users");
    let gone = Key::new(Kind::User, 999_999);
    // Output bit 2 is asked for: stale there are users[4], users[1] (held 3, current 1)
    // and the gone one; users[0] is current, users[2] stale in bit 1 only, users[3] stale
    // for the other profile only; a tech stale in bit 2 is of another kind.
    s.write(&mut |w| {
        w.put_exported(emp, users[0], &state(10, 3, 3))?;
        w.put_exported(emp, users[1], &state(11, 3, 1))?;
        w.put_exported(emp, users[2], &state(12, 3, 2))?;
        w.put_exported(other, users[3], &state(13, 3, 0))?;
        w.put_exported(emp, users[3], &state(14, 3, 3))?;
        w.put_exported(emp, users[4], &state(15, 2, 0))?;
        w.put_exported(emp, gone, &state(16, 2, 0))?;
        w.put_exported(emp, Key::new(Kind::Tech, 1), &state(17, 2, 0))?;
        Ok(())
    })
    .unwrap();
    // Users set to inactive leave the synced set: the flag must come from the record.
    set(s, users[4], &[("active", "false")]);
    let got = s.dirty_changes(emp, Kind::User, 2).unwrap();
    let mut want = vec![users[1], users[4], gone];
    want.sort();
    assert_eq!(got.iter().map(|(k, _)| *k).collect::<Vec<_>>(), want);
    for (key, ch) in &got {
        let Some(ch) = ch else {
            assert_eq!(*key, gone, "only the gone record comes without one");
            assert!(s.find(*key).unwrap().is_none());
            continue;
        };
        assert_eq!(ch.record, s.find(*key).unwrap().unwrap(), "{key}");
        assert_eq!(ch.in_set, s.in_synced_set(*key).unwrap(), "{key}");
        assert_eq!(ch.exported, s.exported(emp, *key).unwrap(), "{key}");
    }
    let in_set: Vec<bool> = got
        .iter()
        .flat_map(|(_, c)| c.as_ref().map(|c| c.in_set))
        .collect();
    assert!(
        in_set.contains(&false),
        "an item outside the synced set: {in_set:?}"
    );
    assert!(s.dirty_changes(emp, Kind::User, 4).unwrap().is_empty());
    assert_eq!(s.dirty_changes(other, Kind::User, 2).unwrap().len(), 1);
}

/// What the read-ahead tests read: the sample's first profile, its users (the first five
/// with an export state of hash 1), a client user and its client, and a key of no record.
struct Ahead {
    emp: Key,
    users: Vec<Key>,
    client_user: smsync::model::Record,
    client: Key,
    missing: Key,
}

fn ahead_setup(s: &mut dyn Store) -> Ahead {
    let emp = all(s, Kind::Employee)[0].key;
    let users: Vec<Key> = all(s, Kind::User).iter().map(|r| r.key).collect();
    let client_user = all(s, Kind::User)
        .into_iter()
        .find(|u| matches!(u.get("client"), Value::Ref(_)))
        .expect("a client user");
    let Value::Ref(client) = *client_user.get("client") else {
        unreachable!()
    };
    for k in &users[..5] {
        let k = *k;
        s.write(&mut |w| w.put_exported(emp, k, &state(1, 3, 3)))
            .unwrap();
    }
    Ahead {
        emp,
        users,
        client_user,
        client,
        missing: Key::new(Kind::User, 999_999),
    }
}

/// An ingest names a chunk of records before it asks for them one by one (PostgreSQL
/// reads them together). Whatever the transaction writes after that, each answer is the
/// record and export state as they are then: the same as a read after the commit.
fn records_read_ahead_are_never_answered_stale(e: &Engine) {
    use smsync::store::Writer;
    let (_d, mut store) = e.sample_store();
    let s = store.as_mut();
    let Ahead {
        emp,
        users,
        client_user,
        client,
        missing,
    } = ahead_setup(s);
    let state = |hash: u64| state(hash, 3, 3);
    let mobile = smsync::fields::get(Kind::User, "mobile").unwrap();
    let text = |v: &str| Value::Text(v.into());
    let before_u3 = s.find(users[3]).unwrap();
    let mut got = Vec::new();
    s.write(&mut |w| {
        got.clear();
        w.read_ahead(
            emp,
            &[users[0], users[1], users[2], users[3], users[4], missing],
        )?;
        // Nothing written yet: the answer read ahead.
        assert_eq!(w.find(users[3])?, before_u3);
        assert_eq!(w.exported(emp, users[3])?.map(|x| x.hash), Some(1));
        // Each write, then the answers for what it touched.
        let mut ask = |w: &dyn Writer, k: Key| -> smsync::error::Result<()> {
            got.push((k, w.find(k)?, w.exported(emp, k)?));
            Ok(())
        };
        w.set(users[0], &[(mobile, text("+1 555 0000"))])?;
        ask(w, users[0])?;
        w.put_exported(emp, users[1], &state(2))?;
        ask(w, users[1])?;
        w.mark_dirty(emp, users[4])?;
        ask(w, users[4])?;
        ask(w, missing)?;
        let undone = w.savepoint(&mut |w| {
            w.set(users[2], &[(mobile, text("+1 555 9999"))])?;
            Err(smsync::error::Error::invalid("stop"))
        });
        assert!(undone.is_err());
        ask(w, users[2])?;
        Ok(())
    })
    .unwrap();
    for (k, record, exported) in &got {
        assert_eq!(record, &s.find(*k).unwrap(), "{k}");
        assert_eq!(exported, &s.exported(emp, *k).unwrap(), "{k}");
    }
    assert_eq!(
        got[0].1.as_ref().unwrap().get("mobile"),
        &text("+1 555 0000")
    );
    assert_eq!(got[1].2.as_ref().map(|x| x.hash), Some(2));
    assert_eq!(got[2].2.as_ref().map(|x| x.current), Some(0));
    assert!(got[3].1.is_none());
    // A client renamed after its user was read ahead: the user shows the new name.
    let name = smsync::fields::get(Kind::Client, "name").unwrap();
    let mut seen = None;
    s.write(&mut |w| {
        w.read_ahead(emp, &[client_user.key])?;
        w.set(client, &[(name, text("Renamed Client Ltd"))])?;
        seen = w.find(client_user.key)?;
        Ok(())
    })
    .unwrap();
    assert_eq!(seen, s.find(client_user.key).unwrap());
    assert_ne!(seen.unwrap().get("category"), client_user.get("category"));
    // Files' content hashes read ahead: a hash recorded after that is seen.
    s.write(&mut |w| w.record_ingested("P", "h1", "a.vcf", "applied"))
        .unwrap();
    s.write(&mut |w| {
        w.ingested_ahead("P", &["h1", "h2", "h3"])?;
        assert_eq!(w.ingested("P", "h1")?.map(|x| x.0), Some("a.vcf".into()));
        assert_eq!(w.ingested("P", "h2")?, None);
        w.record_ingested("P", "h3", "c.vcf", "applied")?;
        assert_eq!(w.ingested("P", "h3")?.map(|x| x.0), Some("c.vcf".into()));
        assert_eq!(w.ingested("Q", "h1")?, None, "another profile");
        // Asked twice: the second answer is read again, and is the same.
        assert_eq!(w.ingested("P", "h1")?.map(|x| x.0), Some("a.vcf".into()));
        Ok(())
    })
    .unwrap();
}

/// A snapshot reader ([`smsync::store::Writer::snapshot_reader`], SQLite) reads on a
/// connection of its own, which sees none of the transaction's writes: what the writer
/// takes from it is never an answer the transaction's own writes made stale. Engines
/// without one pass.
fn records_read_on_another_connection_are_never_answered_stale(e: &Engine) {
    use smsync::store::Writer;
    let (_d, mut store) = e.sample_store();
    let s = store.as_mut();
    let Ahead {
        emp,
        users,
        client_user,
        client,
        missing,
    } = ahead_setup(s);
    let state = |hash: u64| state(hash, 3, 3);
    let mobile = smsync::fields::get(Kind::User, "mobile").unwrap();
    let text = |v: &str| Value::Text(v.into());
    let before: Vec<_> = users[..5].iter().map(|k| s.find(*k).unwrap()).collect();
    let mut got = Vec::new();
    let mut has_reader = false;
    s.write(&mut |w| {
        got.clear();
        let Some(mut reader) = w.snapshot_reader()? else {
            return Ok(());
        };
        has_reader = true;
        let mut ask = |w: &dyn Writer, k: Key| -> smsync::error::Result<()> {
            got.push((k, w.find(k)?, w.exported(emp, k)?));
            Ok(())
        };
        // Written before the read: the reader sees the database as the transaction began.
        w.set(users[0], &[(mobile, text("+1 555 0000"))])?;
        let mut keys = users[..5].to_vec();
        keys.push(missing);
        let read = reader.read(emp, &keys)?;
        assert_eq!(read.items[0].1, before[0]);
        w.take_ahead(read);
        ask(w, users[0])?;
        // Nothing written: the answer read ahead, the database's.
        assert_eq!(w.find(users[3])?, before[3]);
        assert_eq!(w.exported(emp, users[3])?.map(|x| x.hash), Some(1));
        // Each write, then the answers for what it touched.
        w.put_exported(emp, users[1], &state(2))?;
        ask(w, users[1])?;
        w.mark_dirty(emp, users[4])?;
        ask(w, users[4])?;
        ask(w, missing)?;
        let undone = w.savepoint(&mut |w| {
            w.set(users[2], &[(mobile, text("+1 555 9999"))])?;
            Err(smsync::error::Error::invalid("stop"))
        });
        assert!(undone.is_err());
        ask(w, users[2])?;
        w.delete_exported(emp, users[3])?;
        ask(w, users[3])?;
        // Read again after those writes: still not what the transaction wrote.
        w.take_ahead(reader.read(emp, &keys)?);
        for k in [users[0], users[1], users[4], users[3]] {
            ask(w, k)?;
        }
        Ok(())
    })
    .unwrap();
    if !has_reader {
        return;
    }
    for (k, record, exported) in &got {
        assert_eq!(record, &s.find(*k).unwrap(), "{k}");
        assert_eq!(exported, &s.exported(emp, *k).unwrap(), "{k}");
    }
    assert_eq!(
        got[0].1.as_ref().unwrap().get("mobile"),
        &text("+1 555 0000")
    );
    assert_eq!(got[1].2.as_ref().map(|x| x.hash), Some(2));
    assert_eq!(got[2].2.as_ref().map(|x| x.current), Some(0));
    assert!(got[3].1.is_none());
    // A client renamed (a cascade: its users show the new name) makes everything read
    // ahead stale, taken before the rename or after it.
    let name = smsync::fields::get(Kind::Client, "name").unwrap();
    let mut seen = Vec::new();
    s.write(&mut |w| {
        seen.clear();
        let mut reader = w.snapshot_reader()?.expect("a reader");
        w.take_ahead(reader.read(emp, &[client_user.key])?);
        w.set(client, &[(name, text("Renamed Client Ltd"))])?;
        seen.push(w.find(client_user.key)?);
        w.take_ahead(reader.read(emp, &[client_user.key])?);
        seen.push(w.find(client_user.key)?);
        Ok(())
    })
    .unwrap();
    for r in &seen {
        assert_eq!(r, &s.find(client_user.key).unwrap());
        assert_ne!(
            r.as_ref().unwrap().get("category"),
            client_user.get("category")
        );
    }
}

/// What only the SQLite engine has: its schema's own guards and its connection settings.
mod sqlite_only {
    use super::common::*;
    use smsync::error::Error;
    use smsync::model::{Key, Kind, Value};
    use smsync::store::{SqliteStore, Store};

    #[test]
    fn a_transaction_of_many_changes_gives_its_page_cache_back() {
        // `write_many` (an ingest) keeps 64 MiB of pages for its transaction only: an
        // export in the same process reads with the usual cache, and its memory with it.
        let (_d, mut s) = sample_store();
        let cache = |s: &SqliteStore| -> i64 {
            s.connection()
                .query_row("PRAGMA cache_size", [], |r| r.get(0))
                .unwrap()
        };
        let before = cache(&s);
        assert_ne!(before, smsync::store::WRITE_MANY_CACHE);
        let k = Key::new(Kind::Tech, 1);
        let notes = smsync::fields::get(Kind::Tech, "notes").unwrap();
        s.write_many(&mut |w| {
            w.set(k, &[(notes, Value::Text("many".into()))])?;
            Ok(())
        })
        .unwrap();
        assert_eq!(s.get(k).unwrap().text("notes"), "many");
        assert_eq!(cache(&s), before, "after a commit");
        let failed = s.write_many(&mut |w| {
            w.set(k, &[(notes, Value::Text("undone".into()))])?;
            Err(Error::invalid("stop"))
        });
        assert!(failed.is_err());
        assert_eq!(s.get(k).unwrap().text("notes"), "many");
        assert_eq!(cache(&s), before, "after a rollback");
    }

    #[test]
    fn the_unique_index_refuses_a_second_main_whatever_writes() {
        let (_d, mut s) = new_store();
        let (c, locs, _) = client_with(&mut s, "Acme", 3, 0);
        set(&mut s, locs[2], &[("main", "true")]);
        assert_eq!(super::mains(&s, c), vec![locs[2]]);
        // The database itself refuses a second Main, whatever writes to it.
        let raw = s.connection().execute(
            "UPDATE locations SET is_main = 1 WHERE id = ?1",
            [locs[0].id],
        );
        assert!(raw.is_err(), "a second Main slipped past the unique index");
    }

    /// Two client users of one client, and the assignment of a mobile number.
    fn two_users(s: &mut SqliteStore) -> (Key, Key) {
        let (_, _, users) = client_with(s, "Acme", 1, 2);
        (users[0], users[1])
    }

    fn mobile(v: &str) -> [smsync::store::Assignment; 1] {
        [(
            smsync::fields::get(Kind::User, "mobile").unwrap(),
            Value::Text(v.into()),
        )]
    }

    fn journal_rows(s: &SqliteStore) -> i64 {
        s.connection()
            .query_row("SELECT count(*) FROM journal", [], |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn a_change_the_database_refuses_leaves_nothing_and_the_transaction_goes_on() {
        // `try_set` of one row writes no savepoint: SQLite undoes the refused UPDATE alone.
        let (_d, mut s) = new_store();
        let (a, b) = two_users(&mut s);
        s.connection()
            .execute_batch(
                "CREATE TRIGGER refuse BEFORE UPDATE OF mobile ON users \
                 WHEN NEW.mobile = 'boom' BEGIN SELECT RAISE(ABORT, 'refused'); END;",
            )
            .unwrap();
        let (before, rows) = (s.get(a).unwrap(), journal_rows(&s));
        s.write(&mut |w| {
            w.set_source(Some(smsync::store::Source::admin()));
            let err = w.try_set(a, &mobile("boom")).unwrap_err();
            assert!(err.to_string().contains("refused"), "{err}");
            w.try_set(b, &mobile("+1 555 0100"))?;
            Ok(())
        })
        .unwrap();
        assert_eq!(s.get(a).unwrap(), before, "the refused change left nothing");
        assert_eq!(s.get(b).unwrap().text("mobile"), "+1 555 0100");
        assert_eq!(
            journal_rows(&s),
            rows + 1,
            "one row: the change that stayed"
        );
    }

    #[test]
    fn a_change_whose_journal_row_fails_undoes_the_whole_transaction() {
        // A change must never stay without its journal row: when the row cannot be written
        // after the UPDATE, the transaction cannot commit.
        let (_d, mut s) = new_store();
        let (a, b) = two_users(&mut s);
        s.connection()
            .execute_batch(
                "CREATE TRIGGER refuse BEFORE INSERT ON journal \
                 WHEN NEW.new_value = 'poison' BEGIN SELECT RAISE(ABORT, 'no row'); END;",
            )
            .unwrap();
        let (was_a, was_b) = (s.get(a).unwrap(), s.get(b).unwrap());
        let result = s.write(&mut |w| {
            w.set_source(Some(smsync::store::Source::admin()));
            w.try_set(b, &mobile("+1 555 0100"))?;
            assert!(w.try_set(a, &mobile("poison")).is_err());
            Ok(())
        });
        assert!(
            result.is_err(),
            "committed a change without its journal row"
        );
        assert_eq!((s.get(a).unwrap(), s.get(b).unwrap()), (was_a, was_b));
    }

    #[test]
    fn unsynced_writes_leave_the_connection_at_full_sync() {
        let (_d, mut s) = sample_store();
        let sync = |s: &SqliteStore| -> i64 {
            s.connection()
                .query_row("PRAGMA synchronous", [], |r| r.get(0))
                .unwrap()
        };
        assert_eq!(sync(&s), 2, "FULL");
        let key = Key::new(Kind::Tech, 1);
        let fields = [(
            smsync::fields::get(Kind::Tech, "mobile").unwrap(),
            Value::Text("+1 UNSYNCED".into()),
        )];
        s.write_unsynced(&mut |w| w.set(key, &fields).map(|_| ()))
            .unwrap();
        assert_eq!(sync(&s), 2, "back to FULL after a commit");
        // An error inside rolls back and still restores FULL.
        let err = s.write_unsynced(&mut |w| {
            w.set(key, &fields)?;
            Err(Error::invalid("stop"))
        });
        assert!(err.is_err());
        assert_eq!(sync(&s), 2, "back to FULL after a rollback");
    }
}
