//! Deterministic generator of a messy but realistic workspace (seeded RNG: same seed, same data).

use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Map, Value, json};

use crate::db::Db;
use crate::input::search_vector;
use crate::store::fmt_ms;

const FIRST: &[&str] = &[
    "John", "Jane", "Maria", "José", "Anna", "Mohamed", "Wei", "Olga", "Liam", "Emma", "Noah",
    "Sofia", "Lucas", "Mia", "Ahmed", "Yuki", "Pierre", "Chloé", "Hans", "Greta", "Ivan", "Fatima",
    "Raj", "Priya", "Tom", "Lea", "Björn", "Zoë", "Carlos", "Ana", "Kofi", "Amara", "O'Brien",
    "Jean-Luc", "Mary Ann", "Sam", "Alex", "Chris", "Kim", "Lee",
];
const LAST: &[&str] = &[
    "Smith",
    "Johnson",
    "García",
    "Müller",
    "Dubois",
    "Rossi",
    "Nakamura",
    "Kowalski",
    "Silva",
    "Nguyen",
    "Kim",
    "Patel",
    "Ivanov",
    "Jensen",
    "O'Neil",
    "van der Berg",
    "de la Cruz",
    "Li",
    "Brown",
    "Martin",
    "Bernard",
    "Schmidt",
    "Lopez",
    "Wilson",
    "Taylor",
    "Anderson",
    "Thomas",
    "Moore",
    "Jackson",
    "White",
];
const TITLES: &[&str] = &[
    "CEO",
    "cto",
    "Head of Sales",
    "senior ENGINEER",
    "Account Executive",
    "  marketing manager",
    "VP of Engineering",
    "Office Manager ",
    "data scientist",
    "Product Owner",
    "CFO",
    "intern",
    "Customer Success Manager",
    "",
    "Sales Development Rep",
    "DIRECTOR OF OPERATIONS",
];
const CITIES: &[&str] = &[
    "Paris",
    "New York",
    "Berlin",
    "London",
    "São Paulo",
    "Tokyo",
    "San Francisco",
    "Lyon",
    "München",
    "Bangalore",
    "Toronto",
    "",
    "Madrid",
    "Amsterdam",
    "Sydney",
];
const DOMAINS: &[&str] = &[
    "example.com",
    "mail.test",
    "corp.example",
    "gmail.example",
    "yahoo.example",
];
const COMPANY_A: &[&str] = &[
    "Acme",
    "Globex",
    "Initech",
    "Umbrella",
    "Stark",
    "Wayne",
    "Hooli",
    "Vandelay",
    "Soylent",
    "Tyrell",
    "Cyberdyne",
    "Wonka",
    "Gringotts",
    "Oceanic",
    "Aperture",
];
const COMPANY_B: &[&str] = &[
    "", " Corp", " Inc.", " GmbH", " SAS", " Labs", " Systems", " & Co", " Ltd", " Group",
];
const STAGES: &[&str] = &["NEW", "SCREENING", "MEETING", "PROPOSAL", "CUSTOMER"];
const TASK_STATUS: &[&str] = &["TODO", "IN_PROGRESS", "DONE"];

fn new_id(rng: &mut ChaCha8Rng) -> String {
    let mut b = [0u8; 16];
    rng.fill_bytes(&mut b);
    uuid::Builder::from_random_bytes(b).into_uuid().to_string()
}

fn pick<'a>(rng: &mut ChaCha8Rng, items: &[&'a str]) -> &'a str {
    items[rng.random_range(0..items.len())]
}

/// A phone number in a local format of a random country.
fn phone(rng: &mut ChaCha8Rng) -> Value {
    let d = |rng: &mut ChaCha8Rng, n: usize| -> String {
        (0..n)
            .map(|_| char::from(b'0' + rng.random_range(0..10u8)))
            .collect()
    };
    let (number, cc, calling) = match rng.random_range(0..7) {
        0 => (
            format!("06 {} {} {} {}", d(rng, 2), d(rng, 2), d(rng, 2), d(rng, 2)),
            "FR",
            "+33",
        ),
        1 => (format!("({}) 555-{}", d(rng, 3), d(rng, 4)), "US", "+1"),
        2 => (format!("0171 {}", d(rng, 7)), "DE", "+49"),
        3 => (format!("07700 {}", d(rng, 6)), "GB", "+44"),
        4 => (format!("+34 6{}", d(rng, 8)), "ES", "+34"),
        5 => (
            format!("{}-{}-{}", d(rng, 3), d(rng, 3), d(rng, 4)),
            "US",
            "+1",
        ),
        _ => (String::new(), "", ""),
    };
    json!({"primaryPhoneNumber": number, "primaryPhoneCountryCode": cc, "primaryPhoneCallingCode": calling, "additionalPhones": []})
}

fn next_ts(ts: &mut i64, rng: &mut ChaCha8Rng) -> i64 {
    *ts += 1 + rng.random_range(0..12i64);
    *ts
}

/// People imported in batches, as Twenty's import writes them: the records of one batch write
/// share one timestamp (FACTS.md, capture 50). About one person in three comes in a batch of 60
/// (Twenty's import batch size); the rest one at a time. Drawn from an RNG of its own, so the
/// seeded values stay what the seed's RNG gives.
struct Imports {
    rng: ChaCha8Rng,
    /// The shared stamp of the batch in progress and how many records it still takes.
    batch: Option<(i64, usize)>,
}

impl Imports {
    /// Records per import batch.
    const BATCH: usize = 60;

    fn new(seed: u64) -> Self {
        Imports {
            rng: ChaCha8Rng::seed_from_u64(seed ^ 0x1b7a_5eed),
            batch: None,
        }
    }

    /// The `updatedAt`/`createdAt` of the next person, whose own would be `t`.
    fn stamp(&mut self, t: i64) -> i64 {
        if let Some((at, left)) = self.batch.as_mut() {
            let at = *at;
            *left -= 1;
            if *left == 0 {
                self.batch = None;
            }
            return at;
        }
        // One batch start per 120 people alone: 60 of every 180 people come in batches.
        if self.rng.random_bool(1.0 / 120.0) {
            self.batch = Some((t, Self::BATCH - 1));
        }
        t
    }
}

/// Seed `n` people and derived objects into `db`.
pub(crate) fn seed(db: &mut Db, n: usize, seed: u64) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let n_companies = (n / 10).max(1);
    let n_opps = (n / 10).max(1);
    let n_tasks = (n / 20).max(1);
    let n_notes = (n / 20).max(1);
    let total = 5 + n + n_companies + n_opps + 2 * (n_tasks + n_notes);
    // Timestamps: one distinct millisecond per record, ending a day ago; people imported in a
    // batch share theirs (see `Imports`).
    let mut ts = db.clock.now_ms() - 86_400_000 - total as i64 * 7;

    let members = [
        ("Tim", "Apple"),
        ("Jony", "Ive"),
        ("Phil", "Schiler"),
        ("Jane", "Austen"),
        ("Sync", "Bot"),
    ];
    let mut member_ids = Vec::new();
    let mut actors = Vec::new();
    let put = |db: &mut Db, plural: &str, mut rec: Map<String, Value>, t: i64, actor: &Value| {
        let Some(table) = db.tables.get_mut(plural) else {
            return;
        };
        rec.insert("createdAt".into(), json!(fmt_ms(t)));
        rec.insert("updatedAt".into(), json!(fmt_ms(t)));
        for k in ["createdBy", "updatedBy"] {
            if rec.contains_key(k) {
                rec.insert(k.into(), actor.clone());
            }
        }
        if rec.contains_key("searchVector") {
            let sv = search_vector(&table.meta, &rec);
            rec.insert("searchVector".into(), sv);
        }
        if table.put(&rec).is_err() {
            tracing::debug!(plural, "seed record skipped: unique key collision");
        }
    };
    let system =
        json!({"source": "MANUAL", "workspaceMemberId": null, "name": "System", "context": null});
    for (i, (f, l)) in members.iter().enumerate() {
        let Some(t) = db.tables.get("workspaceMembers") else {
            break;
        };
        let mut rec = t.meta.blank_record();
        let id = new_id(&mut rng);
        rec.insert("id".into(), json!(id));
        rec.insert("name".into(), json!({"firstName": f, "lastName": l}));
        rec.insert(
            "userEmail".into(),
            json!(format!(
                "{}.{}@apple.dev",
                f.to_lowercase(),
                l.to_lowercase()
            )),
        );
        rec.insert("userId".into(), json!(new_id(&mut rng)));
        rec.insert(
            "colorScheme".into(),
            json!(if i % 2 == 0 { "Light" } else { "System" }),
        );
        rec.insert("position".into(), json!(i));
        let t = next_ts(&mut ts, &mut rng);
        put(db, "workspaceMembers", rec, t, &system);
        actors.push(json!({"source": "MANUAL", "workspaceMemberId": id, "name": format!("{f} {l}"), "context": null}));
        member_ids.push(id);
    }

    let mut company_ids = Vec::with_capacity(n_companies);
    for i in 0..n_companies {
        let Some(t) = db.tables.get("companies") else {
            break;
        };
        let mut rec = t.meta.blank_record();
        let id = new_id(&mut rng);
        let base = pick(&mut rng, COMPANY_A);
        let name = format!("{base}{}", pick(&mut rng, COMPANY_B));
        let name = if rng.random_bool(0.05) {
            format!(" {name} ")
        } else {
            name
        };
        rec.insert("id".into(), json!(id));
        rec.insert("name".into(), json!(name));
        let domain = if rng.random_bool(0.08) {
            String::new()
        } else if rng.random_bool(0.2) {
            format!("https://www.{}{i}.com", base.to_lowercase())
        } else {
            format!("{}{i}.com", base.to_lowercase())
        };
        rec.insert(
            "domainName".into(),
            json!({"primaryLinkLabel": "", "primaryLinkUrl": domain, "secondaryLinks": []}),
        );
        let mut addr = rec.get("address").cloned().unwrap_or(json!({}));
        addr["addressCity"] = json!(pick(&mut rng, CITIES));
        rec.insert("address".into(), addr);
        if rng.random_bool(0.7) {
            rec.insert("employees".into(), json!(rng.random_range(1..20_000)));
        }
        if rng.random_bool(0.5) {
            rec.insert("annualRevenue".into(), json!({"amountMicros": rng.random_range(1..5_000i64) * 1_000_000_000, "currencyCode": if rng.random_bool(0.7) {"USD"} else {"EUR"}}));
        }
        rec.insert(
            "accountOwnerId".into(),
            json!(member_ids[rng.random_range(0..member_ids.len())]),
        );
        rec.insert("position".into(), json!(i));
        let t = next_ts(&mut ts, &mut rng);
        let actor = actors[rng.random_range(0..actors.len())].clone();
        put(db, "companies", rec, t, &actor);
        company_ids.push(id);
    }

    let mut person_ids = Vec::with_capacity(n);
    let mut imports = Imports::new(seed);
    for i in 0..n {
        let Some(t) = db.tables.get("people") else {
            break;
        };
        let mut rec = t.meta.blank_record();
        let id = new_id(&mut rng);
        let first = pick(&mut rng, FIRST);
        let last = pick(&mut rng, LAST);
        let (fname, lname) = match rng.random_range(0..20) {
            0 => (format!(" {first}"), last.to_string()),
            1 => (first.to_uppercase(), last.to_lowercase()),
            2 => (first.to_string(), String::new()),
            _ => (first.to_string(), last.to_string()),
        };
        rec.insert("id".into(), json!(id));
        rec.insert(
            "name".into(),
            json!({"firstName": fname, "lastName": lname}),
        );
        let local: String = format!("{}.{}", first, last)
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '.')
            .collect();
        let email = match rng.random_range(0..20) {
            0 => String::new(),
            1 | 2 => format!("{local}{i}@{}", pick(&mut rng, DOMAINS).to_uppercase()),
            3 => format!("{}{i}@{}", local.to_uppercase(), pick(&mut rng, DOMAINS)),
            _ => format!("{}{i}@{}", local.to_lowercase(), pick(&mut rng, DOMAINS)),
        };
        let extra = if rng.random_bool(0.1) {
            json!([format!("{}.alt{i}@example.org", local.to_lowercase())])
        } else {
            json!([])
        };
        rec.insert(
            "emails".into(),
            json!({"primaryEmail": email, "additionalEmails": extra}),
        );
        rec.insert("phones".into(), phone(&mut rng));
        rec.insert("jobTitle".into(), json!(pick(&mut rng, TITLES)));
        if rng.random_bool(0.3) {
            rec.insert("linkedinLink".into(), json!({"primaryLinkLabel": "", "primaryLinkUrl": format!("https://linkedin.com/in/{}-{i}", local.to_lowercase()), "secondaryLinks": []}));
        }
        if rng.random_bool(0.9) {
            rec.insert(
                "companyId".into(),
                json!(company_ids[rng.random_range(0..company_ids.len())]),
            );
        }
        rec.insert("position".into(), json!(i));
        let t = imports.stamp(next_ts(&mut ts, &mut rng));
        let actor = actors[rng.random_range(0..actors.len())].clone();
        put(db, "people", rec, t, &actor);
        person_ids.push(id);
    }

    for i in 0..n_opps {
        let Some(t) = db.tables.get("opportunities") else {
            break;
        };
        let mut rec = t.meta.blank_record();
        rec.insert("id".into(), json!(new_id(&mut rng)));
        rec.insert(
            "name".into(),
            json!(format!("{} deal #{i}", pick(&mut rng, COMPANY_A))),
        );
        rec.insert("amount".into(), json!({"amountMicros": rng.random_range(1..1_000i64) * 1_000_000_000, "currencyCode": if rng.random_bool(0.8) {"USD"} else {"EUR"}}));
        rec.insert("stage".into(), json!(pick(&mut rng, STAGES)));
        let close = ts + rng.random_range(0..90i64) * 86_400_000;
        rec.insert("closeDate".into(), json!(fmt_ms(close)));
        rec.insert(
            "companyId".into(),
            json!(company_ids[rng.random_range(0..company_ids.len())]),
        );
        if !person_ids.is_empty() {
            rec.insert(
                "pointOfContactId".into(),
                json!(person_ids[rng.random_range(0..person_ids.len())]),
            );
        }
        rec.insert(
            "ownerId".into(),
            json!(member_ids[rng.random_range(0..member_ids.len())]),
        );
        rec.insert("position".into(), json!(i));
        let t = next_ts(&mut ts, &mut rng);
        let actor = actors[rng.random_range(0..actors.len())].clone();
        put(db, "opportunities", rec, t, &actor);
    }

    for (plural, target_plural, count, link) in [
        ("tasks", "taskTargets", n_tasks, "taskId"),
        ("notes", "noteTargets", n_notes, "noteId"),
    ] {
        for i in 0..count {
            let Some(t) = db.tables.get(plural) else {
                break;
            };
            let mut rec = t.meta.blank_record();
            let id = new_id(&mut rng);
            rec.insert("id".into(), json!(id));
            rec.insert(
                "title".into(),
                json!(format!(
                    "{} #{i}",
                    if plural == "tasks" {
                        "Follow up"
                    } else {
                        "Meeting notes"
                    }
                )),
            );
            rec.insert(
                "bodyV2".into(),
                json!({"blocknote": null, "markdown": format!("Seeded {plural} body {i}")}),
            );
            if plural == "tasks" {
                rec.insert("status".into(), json!(pick(&mut rng, TASK_STATUS)));
                rec.insert(
                    "dueAt".into(),
                    json!(fmt_ms(ts + rng.random_range(0..30i64) * 86_400_000)),
                );
                rec.insert(
                    "assigneeId".into(),
                    json!(member_ids[rng.random_range(0..member_ids.len())]),
                );
            }
            rec.insert("position".into(), json!(i));
            let t = next_ts(&mut ts, &mut rng);
            let actor = actors[rng.random_range(0..actors.len())].clone();
            put(db, plural, rec, t, &actor);
            let Some(tt) = db.tables.get(target_plural) else {
                continue;
            };
            let mut target = tt.meta.blank_record();
            target.insert("id".into(), json!(new_id(&mut rng)));
            target.insert(link.into(), json!(id));
            if rng.random_bool(0.7) && !person_ids.is_empty() {
                target.insert(
                    "targetPersonId".into(),
                    json!(person_ids[rng.random_range(0..person_ids.len())]),
                );
            } else {
                target.insert(
                    "targetCompanyId".into(),
                    json!(company_ids[rng.random_range(0..company_ids.len())]),
                );
            }
            let t = next_ts(&mut ts, &mut rng);
            put(db, target_plural, target, t, &system);
        }
    }
    db.clock.advance_to(ts);
    for t in db.tables.values_mut() {
        t.next_position = -1.0;
    }
}
