//! The three example mapping files under `mappings/` compile and map realistic records.

use std::path::Path;

use serde_json::json;
use twenty_mapping::{
    CompiledMapping, ConflictPolicy, Direction, MappingFile, Owner, TransformRegistry, compile,
};

fn load(name: &str) -> CompiledMapping {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("mappings")
        .join(name);
    let file = MappingFile::from_path(&path).unwrap_or_else(|e| panic!("{e}"));
    compile(&file, &TransformRegistry::with_builtins(), None).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn contacts_example_pushes_categories_tags_and_json_context() {
    let mapping = load("contacts.toml");
    let contacts = mapping.entity("contacts").unwrap();
    assert_eq!(contacts.twenty_object(), "people");
    assert_eq!(contacts.match_keys(), ["emails.primaryEmail"]);
    assert_eq!(contacts.conflict_policy(), ConflictPolicy::NewestWins);
    let title_rule = contacts
        .fields()
        .iter()
        .find(|f| f.twenty_path() == "jobTitle")
        .unwrap();
    assert_eq!(title_rule.owner(), Owner::Twenty);
    assert_eq!(
        title_rule.conflict_policy(),
        Some(ConflictPolicy::TwentyWins)
    );

    let local = json!({
        "id": "c-1",
        "full_name": "  siobhan   o'brien ",
        "email": "Siobhan.OBrien@Example.IE",
        "phone": "+353 87 123 4567",
        "title": "cto",
        "address": {"city": "Dublin"},
        "linkedin": "linkedin.com/in/siobhan",
        "relationship": "Client",
        "tags": ["vip", "unknown", "Mentor"],
        "llm_context": {"summary": "met at RustConf", "topics": ["sync", "crm"]},
        "communication_stats": {"emails": 12, "calls": 3},
        "sync_metadata": {"source": "phone-book", "version": 2},
        "last_contacted": "2025-07-01 09:15",
        "notes_private": "never sent"
    });
    let out = contacts.to_twenty(&local);
    assert!(out.errors.is_empty(), "{:?}", out.errors);
    assert_eq!(
        out.record["name"],
        json!({"firstName": "Siobhan", "lastName": "O'Brien"})
    );
    assert_eq!(
        out.record["emails"]["primaryEmail"],
        "siobhan.obrien@example.ie"
    );
    assert_eq!(out.record["phones"]["primaryPhoneCountryCode"], "IE");
    assert_eq!(out.record["phones"]["primaryPhoneCallingCode"], "+353");
    assert_eq!(out.record["jobTitle"], "Chief Technology Officer");
    assert_eq!(
        out.record["linkedinLink"]["primaryLinkUrl"],
        "https://linkedin.com/in/siobhan"
    );
    assert_eq!(out.record["relationshipCategory"], "CLIENT");
    assert_eq!(out.record["contactTags"], json!(["VIP", "MENTOR"]));
    assert_eq!(
        out.record["llmContext"],
        r#"{"summary":"met at RustConf","topics":["sync","crm"]}"#
    );
    assert_eq!(
        out.record["syncMetadata"],
        r#"{"source":"phone-book","version":2}"#
    );
    assert_eq!(out.record["lastContactedAt"], "2025-07-01T08:15:00Z");
    assert!(!out.record.to_string().contains("never sent"));

    // Pull back: JSON text decodes, categories and tags invert, the phone joins to E.164.
    let back = contacts.to_local(&out.record);
    assert!(back.errors.is_empty(), "{:?}", back.errors);
    assert_eq!(back.record["full_name"], "Siobhan O'Brien");
    assert_eq!(back.record["phone"], "+353871234567");
    assert_eq!(back.record["relationship"], "client");
    assert_eq!(back.record["tags"], json!(["vip", "mentor"]));
    assert_eq!(back.record["llm_context"], local["llm_context"]);
    assert_eq!(
        back.record["communication_stats"],
        local["communication_stats"]
    );
    assert_eq!(back.record["last_contacted"], "2025-07-01 09:15");
    assert!(
        back.record.get("sync_metadata").is_none(),
        "push-only rule must not pull"
    );
}

#[test]
fn contacts_example_declares_camel_case_custom_fields_for_setup() {
    let mapping = load("contacts.toml");
    let fields = mapping.entity("contacts").unwrap().required_twenty_fields();
    let names: Vec<&str> = fields.iter().map(|f| f.name.as_str()).collect();
    for expected in [
        "llmContext",
        "communicationStats",
        "syncMetadata",
        "relationshipCategory",
    ] {
        assert!(
            names.contains(&expected),
            "{expected} missing from {names:?}"
        );
    }
    let category = fields
        .iter()
        .find(|f| f.name == "relationshipCategory")
        .unwrap();
    assert_eq!(category.field_type, "SELECT");
    assert!(category.options.contains(&"CLIENT".to_owned()));
}

#[test]
fn contacts_example_reports_bad_fields_without_dropping_the_record() {
    let mapping = load("contacts.toml");
    let contacts = mapping.entity("contacts").unwrap();
    let out = contacts.to_twenty(&json!({
        "id": "c-2", "full_name": "Grace Hopper", "email": "grace at navy", "phone": "12"
    }));
    assert_eq!(out.record["name"]["lastName"], "Hopper");
    assert_eq!(out.errors.len(), 2);
    let email = out
        .errors
        .iter()
        .find(|e| e.field == "emails.primaryEmail")
        .unwrap();
    assert!(email.required && out.is_rejected());
    assert_eq!(email.rule, "entities.contacts.fields[1]");
    assert_eq!(email.excerpt.as_deref(), Some("grace at navy"));
    assert!(
        out.errors
            .iter()
            .any(|e| e.field == "phones" && e.reason.contains("phone"))
    );
}

#[test]
fn organisations_example_maps_companies_and_members_from_json() {
    let mapping = load("organisations.json");
    let orgs = mapping.entity("organisations").unwrap();
    assert_eq!(orgs.twenty_object(), "companies");
    let out = orgs.to_twenty(&json!({
        "org_id": 9, "name": "Acme  GmbH", "website": "https://www.acme.de/impressum",
        "headcount": "120", "arr": "1.234.567,89", "hq": "Berlin, Germany", "industry": "SaaS"
    }));
    assert!(out.errors.is_empty(), "{:?}", out.errors);
    assert_eq!(
        out.record,
        json!({
            "name": "Acme GmbH",
            "domainName": {"primaryLinkUrl": "https://acme.de"},
            "employees": 120,
            "annualRecurringRevenue": {"amountMicros": 1234567890000i64, "currencyCode": "EUR"},
            "address": {"addressCity": "Berlin", "addressCountry": "DE"},
            "sector": "SOFTWARE",
            "idealCustomerProfile": false
        })
    );
    assert_eq!(
        orgs.local_key_of(&json!({"org_id": 9})).as_deref(),
        Some("9")
    );
    let back = orgs.to_local(&out.record);
    assert_eq!(back.record["arr"], "1234567.89");
    assert_eq!(back.record["industry"], "software");
    assert_eq!(back.record["hq"], "Berlin, DE");

    let members = mapping.entity("members").unwrap();
    assert_eq!(members.direction(), Direction::Push);
    let out = members.to_twenty(&json!({
        "member_id": "m1", "first_name": " anna ", "last_name": "de la cruz",
        "email": "anna@acme.de", "landline": "030 1234567", "internal_notes": "do not share"
    }));
    assert!(out.errors.is_empty(), "{:?}", out.errors);
    assert_eq!(
        out.record["name"],
        json!({"firstName": "Anna", "lastName": "de la Cruz"})
    );
    assert_eq!(out.record["jobTitle"], "Member");
    assert_eq!(out.record["phones"]["primaryPhoneCallingCode"], "+49");
    assert!(
        out.record.get("internalNotes").is_none(),
        "not in allow_push"
    );
    // Pull is not configured for a push-only entity.
    assert_eq!(members.to_local(&out.record).record, json!({}));
}

#[test]
fn members_errors_are_redacted() {
    let mapping = load("organisations.json");
    let out = mapping
        .entity("members")
        .unwrap()
        .to_twenty(&json!({"member_id": "m2", "email": "secret-person@"}));
    assert_eq!(out.errors.len(), 1);
    assert_eq!(out.errors[0].excerpt, None);
    assert!(!out.errors[0].to_string().contains("secret-person"));
}

#[test]
fn leads_example_maps_tags_source_and_nested_paths() {
    let mapping = load("leads.toml");
    let leads = mapping.entity("leads").unwrap();
    assert_eq!(leads.local_key(), "lead.id");
    let local = json!({"lead": {
        "id": "L-77",
        "name": "jean-luc mcdonald",
        "contact": {"emails": [{"address": "JL@Enterprise.io"}]},
        "utm_source": "LinkedIn",
        "tags": "hot, enterprise, spam",
        "budget": "$25,000.50",
        "received": "07/04/2025 02:30 PM",
        "form": {"answers": {"q1": "yes"}},
        "company": "Enterprise Inc",
        "country": ""
    }});
    assert_eq!(leads.local_key_of(&local).as_deref(), Some("L-77"));
    let out = leads.to_twenty(&local);
    assert!(
        !out.errors.is_empty(),
        "`$25,000.50` needs thousands_separator"
    );
    let budget = out.errors.iter().find(|e| e.field == "budget").unwrap();
    assert!(
        budget.reason.contains("not a decimal number"),
        "{}",
        budget.reason
    );
    assert_eq!(budget.excerpt, None, "leads redact values");
    assert_eq!(
        out.record["leadName"],
        json!({"firstName": "Jean-Luc", "lastName": "McDonald"})
    );
    assert_eq!(out.record["email"]["primaryEmail"], "JL@enterprise.io");
    assert_eq!(out.record["leadSource"], "ADS");
    assert_eq!(out.record["leadTags"], json!(["HOT", "ENTERPRISE"]));
    assert_eq!(out.record["receivedAt"], "2025-07-04T18:30:00Z");
    assert_eq!(out.record["formPayload"], json!({"answers": {"q1": "yes"}}));
    assert_eq!(out.record["summary"], "Enterprise Inc");

    let without_source = leads.to_twenty(&json!({"lead": {"id": 1,
        "contact": {"emails": [{"address": "a@b.co"}]}}}));
    assert_eq!(
        without_source.record["leadSource"], "WEB",
        "default applies before the value map"
    );
}

#[test]
fn content_hash_of_mapped_records_ignores_key_order() {
    let mapping = load("organisations.json");
    let orgs = mapping.entity("organisations").unwrap();
    let a = orgs.to_twenty(&json!({"org_id": 1, "name": "A", "website": "a.io", "headcount": 3}));
    let b = orgs.to_twenty(&json!({"headcount": 3, "website": "a.io", "name": "A", "org_id": 1}));
    assert_eq!(a.content_hash(), b.content_hash());
    let c = orgs.to_twenty(&json!({"org_id": 1, "name": "A", "website": "a.io", "headcount": 4}));
    assert_ne!(a.content_hash(), c.content_hash());
}
