//! Sample and synthetic data: `db seed --sample` builds a small, realistic company;
//! `db seed --scale N` builds N contacts (plus SIs) of the same shape, deterministically
//! for a given N and seed, through the same storage-layer rules as every other write.

use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use crate::admin::assign;
use crate::error::{Error, Result};
use crate::model::{Key, Kind, SiStatus};
use crate::store::{Store, Writer};

/// How many records of each kind a seed added.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Seeded {
    pub clients: u64,
    pub locations: u64,
    pub users: u64,
    pub tech: u64,
    pub sis: u64,
    pub employees: u64,
}

impl Seeded {
    pub fn contacts(&self) -> u64 {
        self.locations + self.users + self.tech
    }

    fn bump(&mut self, kind: Kind) {
        match kind {
            Kind::Client => self.clients += 1,
            Kind::Location => self.locations += 1,
            Kind::User => self.users += 1,
            Kind::Tech => self.tech += 1,
            Kind::Si => self.sis += 1,
            Kind::Employee => self.employees += 1,
        }
    }
}

fn refuse_non_empty(store: &dyn Store) -> Result<()> {
    let n: u64 = Kind::ALL
        .iter()
        .map(|&k| store.count(k))
        .sum::<Result<u64>>()?;
    if n > 0 {
        return Err(Error::invalid(format!(
            "the database already holds {n} records; seed only an empty database \
             (for example `smsync --db new.db db init` first)"
        )));
    }
    Ok(())
}

/// Adds one record from (field, value) pairs, counting it.
fn add(w: &mut dyn Writer, seeded: &mut Seeded, kind: Kind, pairs: &[(&str, &str)]) -> Result<Key> {
    let values = assign(&*w, kind, pairs)?;
    let key = w.add(kind, &values)?;
    seeded.bump(kind);
    Ok(key)
}

struct SampleClient {
    name: &'static str,
    /// (name, street, city, region, postal code, country, phone); the first is Main.
    locations: &'static [[&'static str; 7]],
    /// (first, last, job title, e-mail)
    users: &'static [[&'static str; 4]],
}

const SAMPLE: &[SampleClient] = &[
    SampleClient {
        name: "Acme Industrial Supply",
        locations: &[
            [
                "Head Office",
                "1200 W Fulton St",
                "Chicago",
                "IL",
                "60607",
                "United States",
                "+1 312 555 0100",
            ],
            [
                "Gary Warehouse",
                "4500 Industrial Hwy",
                "Gary",
                "IN",
                "46406",
                "United States",
                "+1 219 555 0140",
            ],
            [
                "Milwaukee Branch",
                "310 N Water St",
                "Milwaukee",
                "WI",
                "53202",
                "United States",
                "+1 414 555 0177",
            ],
        ],
        users: &[
            [
                "Laura",
                "Kowalski",
                "IT Manager",
                "laura.kowalski@acme-industrial.example",
            ],
            [
                "Derek",
                "Olsen",
                "Warehouse Lead",
                "derek.olsen@acme-industrial.example",
            ],
            [
                "Angela",
                "Ruiz",
                "Office Administrator",
                "angela.ruiz@acme-industrial.example",
            ],
        ],
    },
    SampleClient {
        name: "Café Müller GmbH",
        locations: &[
            [
                "Hauptsitz München",
                "Leopoldstraße 77",
                "München",
                "BY",
                "80802",
                "Deutschland",
                "+49 89 5550 1200",
            ],
            [
                "Filiale Köln",
                "Hohe Straße 52",
                "Köln",
                "NW",
                "50667",
                "Deutschland",
                "+49 221 5550 3300",
            ],
        ],
        users: &[
            [
                "Jürgen",
                "Weiß",
                "Geschäftsführer",
                "juergen.weiss@cafe-mueller.example",
            ],
            [
                "Zoë",
                "Bäcker",
                "Filialleiterin",
                "zoe.baecker@cafe-mueller.example",
            ],
        ],
    },
    SampleClient {
        name: "Northwind Traders",
        locations: &[
            [
                "Seattle HQ",
                "400 Pine St",
                "Seattle",
                "WA",
                "98101",
                "United States",
                "+1 206 555 0190",
            ],
            [
                "Portland Store",
                "800 SW Broadway",
                "Portland",
                "OR",
                "97205",
                "United States",
                "+1 503 555 0123",
            ],
            [
                "Tacoma Depot",
                "1500 Pacific Ave",
                "Tacoma",
                "WA",
                "98402",
                "United States",
                "+1 253 555 0166",
            ],
            [
                "Spokane Office",
                "601 W Main Ave",
                "Spokane",
                "WA",
                "99201",
                "United States",
                "+1 509 555 0111",
            ],
        ],
        users: &[
            [
                "Nancy",
                "Davolio",
                "Sales Representative",
                "nancy.davolio@northwind.example",
            ],
            [
                "Andrew",
                "Fuller",
                "Vice President, Sales",
                "andrew.fuller@northwind.example",
            ],
            [
                "Janet",
                "Leverling",
                "Sales Representative",
                "janet.leverling@northwind.example",
            ],
        ],
    },
    SampleClient {
        name: "Blue Harbor Dental",
        locations: &[
            [
                "Main Clinic",
                "22 Harbor Blvd",
                "Annapolis",
                "MD",
                "21401",
                "United States",
                "+1 410 555 0150",
            ],
            [
                "Eastport Clinic",
                "9 Severn Ave",
                "Annapolis",
                "MD",
                "21403",
                "United States",
                "+1 410 555 0162",
            ],
        ],
        users: &[
            [
                "Samira",
                "Haddad",
                "Practice Manager",
                "samira.haddad@blueharbor.example",
            ],
            [
                "Kevin",
                "O'Brien",
                "Front Desk",
                "kevin.obrien@blueharbor.example",
            ],
        ],
    },
    SampleClient {
        name: "Østfold Logistikk AS",
        locations: &[
            [
                "Hovedkontor Fredrikstad",
                "Nygaardsgata 14",
                "Fredrikstad",
                "Østfold",
                "1606",
                "Norge",
                "+47 69 55 50 00",
            ],
            [
                "Lager Sarpsborg",
                "Industriveien 3",
                "Sarpsborg",
                "Østfold",
                "1720",
                "Norge",
                "+47 69 55 51 10",
            ],
            [
                "Terminal Moss",
                "Havnegata 8",
                "Moss",
                "Østfold",
                "1530",
                "Norge",
                "+47 69 55 52 20",
            ],
        ],
        users: &[
            [
                "Åse",
                "Lindqvist",
                "Driftsleder",
                "ase.lindqvist@ostfold-logistikk.example",
            ],
            [
                "Håkon",
                "Ødegård",
                "IT-ansvarlig",
                "hakon.odegard@ostfold-logistikk.example",
            ],
        ],
    },
];

/// (first, last, job title, phone); the first two sync as employees.
const AGENTS: &[[&str; 4]] = &[
    [
        "Dana",
        "Whitfield",
        "Senior Service Engineer",
        "+1 312 555 0901",
    ],
    ["Marco", "Rossi", "Field Technician", "+1 312 555 0902"],
    ["Priya", "Natarajan", "Network Engineer", "+1 312 555 0903"],
    ["Tom", "Becker", "Service Desk Lead", "+1 312 555 0904"],
];

/// (company, first, last, phone, e-mail, web)
const TECH: &[[&str; 6]] = &[
    [
        "Dell ProSupport",
        "",
        "",
        "+1 800 555 0101",
        "prosupport@dell.example",
        "https://dell.example/support",
    ],
    [
        "Cisco TAC",
        "Rachel",
        "Nguyen",
        "+1 800 555 0102",
        "tac@cisco.example",
        "https://cisco.example/tac",
    ],
    [
        "HPE Support",
        "",
        "",
        "+1 800 555 0103",
        "support@hpe.example",
        "https://hpe.example",
    ],
    [
        "Microsoft Unified Support",
        "Owen",
        "Grant",
        "+1 800 555 0104",
        "unified@microsoft.example",
        "",
    ],
    [
        "Ubiquiti Support",
        "",
        "",
        "+1 800 555 0105",
        "support@ui.example",
        "https://ui.example",
    ],
    [
        "Fortinet TAC",
        "",
        "",
        "+1 800 555 0106",
        "tac@fortinet.example",
        "",
    ],
    [
        "APC by Schneider",
        "Lena",
        "Fischer",
        "+1 800 555 0107",
        "ups@apc.example",
        "",
    ],
    [
        "Synology Support",
        "",
        "",
        "+1 800 555 0108",
        "support@synology.example",
        "https://synology.example",
    ],
    [
        "",
        "Greg",
        "Halvorsen",
        "+1 773 555 0109",
        "greg@halvorsen-cabling.example",
        "",
    ],
    [
        "Brother Printers",
        "",
        "",
        "+1 800 555 0110",
        "service@brother.example",
        "",
    ],
];

const SI_TEXTS: &[&str] = &[
    "Replace failing switch in server room",
    "Set up VPN for new remote staff",
    "Printer on 2nd floor jams on duplex",
    "Migrate mailboxes to new tenant",
    "Firewall firmware upgrade",
    "UPS battery replacement",
    "New laptop for incoming manager",
    "Backup job failing nightly",
    "Wi-Fi dead spot in warehouse",
    "POS terminal offline",
    "Install badge reader at side entrance",
    "NAS running out of space",
    "Phone system voicemail not sending e-mail",
    "Quarterly patching",
    "Recover deleted shared folder",
    "Replace cracked monitor",
    "Configure guest network",
    "Audit user accounts",
    "Move desk phones to new office",
    "Renew SSL certificate",
];

/// Builds the sample company (SPEC §1): 5 clients with 2–4 locations each (one Main),
/// client users, 4 service agents of whom 2 sync, 10 tech entries and 20 SIs.
pub fn sample(store: &mut dyn Store) -> Result<Seeded> {
    refuse_non_empty(store)?;
    let mut seeded = Seeded::default();
    store.write(&mut |w| {
        seeded = Seeded::default();
        build_sample(w, &mut seeded)
    })?;
    Ok(seeded)
}

fn build_sample(w: &mut dyn Writer, s: &mut Seeded) -> Result<()> {
    let mut client_users: Vec<Vec<Key>> = Vec::new();
    let mut client_keys = Vec::new();
    for c in SAMPLE {
        let client = add(w, s, Kind::Client, &[("name", c.name)])?;
        let ck = client.to_string();
        for (i, l) in c.locations.iter().enumerate() {
            add(
                w,
                s,
                Kind::Location,
                &[
                    ("client", &ck),
                    ("name", l[0]),
                    ("main", if i == 0 { "true" } else { "false" }),
                    ("street", l[1]),
                    ("city", l[2]),
                    ("region", l[3]),
                    ("postal_code", l[4]),
                    ("country", l[5]),
                    ("phone", l[6]),
                ],
            )?;
        }
        let mut users = Vec::new();
        for u in c.users {
            users.push(add(
                w,
                s,
                Kind::User,
                &[
                    ("kind", "client"),
                    ("client", &ck),
                    ("first_name", u[0]),
                    ("last_name", u[1]),
                    ("job_title", u[2]),
                    ("email", u[3]),
                ],
            )?);
        }
        client_users.push(users);
        client_keys.push(client);
    }
    let mut agents = Vec::new();
    for a in AGENTS {
        let email = format!(
            "{}.{}@servicemaster.example",
            a[0].to_lowercase(),
            a[1].to_lowercase()
        );
        agents.push(add(
            w,
            s,
            Kind::User,
            &[
                ("kind", "agent"),
                ("first_name", a[0]),
                ("last_name", a[1]),
                ("job_title", a[2]),
                ("department", "Field Services"),
                ("phone", a[3]),
                ("email", &email),
            ],
        )?);
    }
    for a in &agents[..2] {
        add(w, s, Kind::Employee, &[("user", &a.to_string())])?;
    }
    for t in TECH {
        add(
            w,
            s,
            Kind::Tech,
            &[
                ("company", t[0]),
                ("first_name", t[1]),
                ("last_name", t[2]),
                ("phone", t[3]),
                ("email", t[4]),
                ("web", t[5]),
            ],
        )?;
    }
    for (i, text) in SI_TEXTS.iter().enumerate() {
        let c = i % SAMPLE.len();
        let status = match i % 10 {
            0..=3 => SiStatus::InProgress,
            4..=6 => SiStatus::CompletionRequested,
            _ => SiStatus::Closed,
        };
        let priority = ["Normal", "High", "Low", "Normal"][i % 4];
        let start = format!("2026-11-{:02}", 2 + i);
        let due = format!("2026-12-{:02}", 1 + i);
        let completed = if status == SiStatus::Closed {
            format!("2026-11-{:02}", 20 + i % 5)
        } else {
            String::new()
        };
        let users = &client_users[c];
        let u = &SAMPLE[c].users[i % users.len()];
        let reporter = format!("{} {}", u[0], u[1]);
        let people = format!("{},{}", users[i % users.len()], agents[i % agents.len()]);
        let number = (1001 + i).to_string();
        add(
            w,
            s,
            Kind::Si,
            &[
                ("number", &number),
                ("client", &client_keys[c].to_string()),
                ("description", text),
                ("notes", &format!("Reported by {reporter}.")),
                ("status", status.as_str()),
                ("priority", priority),
                ("start", &start),
                ("due", &due),
                ("completed", &completed),
                ("people", &people),
            ],
        )?;
    }
    Ok(())
}

/// A small deterministic generator (SplitMix64): the same seed gives the same data on every
/// platform and build, which `rand`'s StdRng does not promise across versions.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const FIRST: &[&str] = &[
    "Anna", "Ben", "Chloé", "David", "Elif", "Farid", "Greta", "Hiro", "Ines", "Jonas", "Katja",
    "Liam", "Maya", "Noah", "Olga", "Pablo", "Quinn", "Rosa", "Sven", "Tara", "Umar", "Vera",
    "Wei", "Ximena", "Yusuf", "Zoë", "Björn", "Agnès", "Łukasz", "Renée",
];
const LAST: &[&str] = &[
    "Smith",
    "Müller",
    "García",
    "Nguyen",
    "Kowalski",
    "Rossi",
    "Johansson",
    "Okafor",
    "Dubois",
    "Tanaka",
    "Novak",
    "Silva",
    "Fischer",
    "O'Connor",
    "Haddad",
    "Petrov",
    "Jensen",
    "Moreau",
    "Schäfer",
    "Yılmaz",
    "Brown",
    "Lee",
    "Walker",
    "Costa",
];
const COMPANY_A: &[&str] = &[
    "Northern",
    "Blue",
    "Summit",
    "Harbor",
    "Crescent",
    "Alpine",
    "Granite",
    "Silver",
    "Maple",
    "Pioneer",
    "Cedar",
    "Lakeside",
    "Sonnen",
    "Nordlicht",
    "Élan",
];
const COMPANY_B: &[&str] = &[
    "Logistics",
    "Dental",
    "Bakery",
    "Consulting",
    "Foods",
    "Motors",
    "Design",
    "Clinic",
    "Holdings",
    "Traders",
    "Studios",
    "Werkstatt",
    "Partners",
];
const CITIES: &[&str] = &[
    "Chicago",
    "München",
    "Seattle",
    "Annapolis",
    "Fredrikstad",
    "Lyon",
    "Kraków",
    "Porto",
    "Zürich",
    "Austin",
    "Göteborg",
    "Dublin",
];
const SITES: &[&str] = &[
    "Main Office",
    "Warehouse",
    "Branch",
    "Depot",
    "Clinic",
    "Store",
    "Lab",
];
const JOBS: &[&str] = &[
    "Office Manager",
    "Accountant",
    "Engineer",
    "Receptionist",
    "Director",
    "Technician",
    "Buyer",
    "Analyst",
];

/// The shape of a synthetic database of `contacts` contacts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Shape {
    pub clients: u64,
    pub locations: u64,
    pub agents: u64,
    pub client_users: u64,
    pub tech: u64,
    pub sis: u64,
}

impl Shape {
    /// The sample company's proportions: 30 % locations (3 per client), 10 % tech entries,
    /// the rest users (1 in 30 a service agent); SIs one tenth of the contacts by default.
    pub fn for_contacts(contacts: u64, sis: Option<u64>) -> Self {
        let tech = contacts / 10;
        let locations = (contacts * 3 / 10).max(1);
        let users = contacts.saturating_sub(tech + locations);
        let agents = (users / 30).max(1).min(users);
        Shape {
            clients: locations.div_ceil(3),
            locations,
            agents,
            client_users: users - agents,
            tech,
            sis: sis.unwrap_or(contacts / 10),
        }
    }

    pub fn total(&self) -> u64 {
        self.clients + self.locations + self.agents + self.client_users + self.tech + self.sis
    }
}

/// Records per write transaction: large enough to be fast, small enough to keep the WAL
/// and the memory of one transaction bounded.
const CHUNK: u64 = 50_000;

/// Adds `contacts` synthetic contacts (and SIs, see [`Shape`]) to an empty database.
/// The same `contacts`, `sis` and `seed` give the same records.
pub fn scale(
    store: &mut dyn Store,
    contacts: u64,
    sis: Option<u64>,
    seed: u64,
    progress: bool,
) -> Result<Seeded> {
    if contacts == 0 {
        return Err(Error::invalid("--scale takes a number of contacts above 0"));
    }
    refuse_non_empty(store)?;
    let shape = Shape::for_contacts(contacts, sis);
    let bar = if progress {
        let b = ProgressBar::new(shape.total());
        b.set_style(
            ProgressStyle::with_template("{msg:>10} [{bar:40}] {pos}/{len} ({per_sec}, {eta})")
                .expect("template")
                .progress_chars("=> "),
        );
        b
    } else {
        ProgressBar::hidden()
    };
    let mut rng = Rng(seed);
    let mut s = Seeded::default();
    let mut clients: Vec<Key> = Vec::new();
    let mut locations: Vec<Key> = Vec::new();
    let mut agents: Vec<Key> = Vec::new();
    let mut users: Vec<Key> = Vec::new();

    // Each step adds record `i` of its kind; steps run in chunks of one transaction each.
    let mut run = |label: &str,
                   count: u64,
                   s: &mut Seeded,
                   step: &mut dyn FnMut(&mut dyn Writer, &mut Seeded, u64) -> Result<()>|
     -> Result<()> {
        bar.set_message(label.to_string());
        let mut i = 0;
        while i < count {
            let end = (i + CHUNK).min(count);
            store.write(&mut |w| {
                for j in i..end {
                    step(w, s, j)?;
                }
                Ok(())
            })?;
            bar.inc(end - i);
            i = end;
        }
        Ok(())
    };

    run("clients", shape.clients, &mut s, &mut |w, s, i| {
        let name = format!("{} {} {}", rng.pick(COMPANY_A), rng.pick(COMPANY_B), i + 1);
        clients.push(add(w, s, Kind::Client, &[("name", &name)])?);
        Ok(())
    })?;
    let nc = clients.len();
    run("locations", shape.locations, &mut s, &mut |w, s, i| {
        let client = clients[i as usize % nc].to_string();
        let name = format!("{} {}", rng.pick(SITES), i as usize / nc + 1);
        let phone = format!("+1 555 {:03} {:04}", rng.below(1000), rng.below(10000));
        let street = format!("{} {} St", 1 + rng.below(9999), rng.pick(LAST));
        locations.push(add(
            w,
            s,
            Kind::Location,
            &[
                ("client", &client),
                ("name", &name),
                ("street", &street),
                ("city", rng.pick(CITIES)),
                ("postal_code", &format!("{:05}", rng.below(100_000))),
                ("phone", &phone),
            ],
        )?);
        Ok(())
    })?;
    let person = |rng: &mut Rng| {
        let first = rng.pick(FIRST);
        let last = rng.pick(LAST);
        let phone = format!("+1 555 {:03} {:04}", rng.below(1000), rng.below(10000));
        (first, last, phone)
    };
    run("agents", shape.agents, &mut s, &mut |w, s, i| {
        let (first, last, phone) = person(&mut rng);
        let last = format!("{last} {}", i + 1);
        agents.push(add(
            w,
            s,
            Kind::User,
            &[
                ("kind", "agent"),
                ("first_name", first),
                ("last_name", &last),
                ("job_title", "Service Agent"),
                ("phone", &phone),
            ],
        )?);
        Ok(())
    })?;
    run("users", shape.client_users, &mut s, &mut |w, s, i| {
        let (first, last, phone) = person(&mut rng);
        let client = clients[i as usize % nc].to_string();
        let email = format!("user{}@client{}.example", i + 1, i as usize % nc + 1);
        users.push(add(
            w,
            s,
            Kind::User,
            &[
                ("kind", "client"),
                ("client", &client),
                ("first_name", first),
                ("last_name", last),
                ("job_title", rng.pick(JOBS)),
                ("phone", &phone),
                ("email", &email),
            ],
        )?);
        Ok(())
    })?;
    let employees = agents.len().min(2);
    run("employees", employees as u64, &mut s, &mut |w, s, i| {
        add(
            w,
            s,
            Kind::Employee,
            &[("user", &agents[i as usize].to_string())],
        )?;
        Ok(())
    })?;
    run("tech", shape.tech, &mut s, &mut |w, s, i| {
        let company = format!("{} Support {}", rng.pick(COMPANY_A), i + 1);
        let phone = format!("+1 800 {:03} {:04}", rng.below(1000), rng.below(10000));
        add(
            w,
            s,
            Kind::Tech,
            &[("company", &company), ("phone", &phone)],
        )?;
        Ok(())
    })?;
    let nu = users.len();
    run("SIs", shape.sis, &mut s, &mut |w, s, i| {
        let c = i as usize % nc;
        let status = match rng.below(10) {
            0..=4 => SiStatus::InProgress,
            5..=7 => SiStatus::CompletionRequested,
            _ => SiStatus::Closed,
        };
        let day = 1 + rng.below(28);
        let mut people = agents[rng.below(agents.len())].to_string();
        // Client users of client c are those with index ≡ c (mod nc).
        if nu > c {
            let per = (nu - c).div_ceil(nc);
            let u = users[c + nc * rng.below(per)];
            people = format!("{u},{people}");
        }
        add(
            w,
            s,
            Kind::Si,
            &[
                ("client", &clients[c].to_string()),
                ("description", &format!("{} #{}", rng.pick(SI_TEXTS), i + 1)),
                ("status", status.as_str()),
                ("priority", ["Low", "Normal", "High"][rng.below(3)]),
                ("start", &format!("2026-11-{day:02}")),
                ("due", &format!("2026-12-{day:02}")),
                (
                    "completed",
                    if status == SiStatus::Closed {
                        "2026-11-28"
                    } else {
                        ""
                    },
                ),
                ("people", &people),
            ],
        )?;
        Ok(())
    })?;
    bar.finish_and_clear();
    Ok(s)
}
