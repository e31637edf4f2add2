//! The records endpoints over real HTTP, compared with the 2.21.0 captures.

mod common;

use std::collections::HashSet;

use common::{Sim, captured_body, enc, keys};
use reqwest::StatusCode;
use serde_json::{Value, json};

#[tokio::test]
async fn error_bodies_equal_the_captured_ones() {
    let sim = Sim::start(20).await;
    let cases = [
        (
            "/rest/core/companies?limit=2",
            "13_companies_list_core_prefix.json",
        ),
        (
            "/rest/people?filter=name%5Beqq%5D%3Afoo",
            "60_error_bad_filter_syntax.json",
        ),
        (
            "/rest/people?filter=doesNotExist%5Beq%5D%3A%22x%22",
            "61_error_bad_filter_unknown_field.json",
        ),
        ("/rest/people/not-a-uuid", "62_error_bad_id_not_uuid.json"),
        (
            "/rest/people/00000000-0000-4000-8000-000000000000",
            "63_error_unknown_id.json",
        ),
        ("/rest/unicorns", "64_error_unknown_object.json"),
        (
            "/rest/people?order_by=nope%5BSideways%5D",
            "72_error_bad_order_by.json",
        ),
    ];
    for (path, cap) in cases {
        let (status, body) = sim.get(path).await;
        let want = captured_body(cap);
        assert_eq!(
            status.as_u16() as u64,
            want["statusCode"].as_u64().unwrap_or(0),
            "{path}"
        );
        assert_eq!(body, want, "{path}");
    }
}

#[tokio::test]
async fn auth_errors_match_captures_403_missing_and_401_invalid() {
    let sim = Sim::start(1).await;
    let r = sim
        .http
        .get(sim.url("/rest/people?limit=1"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        captured_body("65_error_no_auth.json")
    );
    let r = sim
        .http
        .get(sim.url("/rest/people?limit=1"))
        .bearer_auth("wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        captured_body("66_error_invalid_token.json")
    );
}

#[tokio::test]
async fn malformed_json_body_gets_nest_parser_400() {
    let sim = Sim::start(0).await;
    let r = sim
        .http
        .post(sim.url("/rest/people"))
        .bearer_auth(common::KEY)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        captured_body("71_error_malformed_json.json")
    );
}

#[tokio::test]
async fn singular_object_name_suggests_the_plural() {
    let sim = Sim::start(0).await;
    let (s, b) = sim.get("/rest/person").await;
    assert_eq!(s, 400);
    assert_eq!(
        b["messages"][0],
        "object 'person' not found. Did you mean 'people'?"
    );
}

#[tokio::test]
async fn list_envelope_and_record_fields_match_capture() {
    let sim = Sim::start(30).await;
    let (s, body) = sim.get("/rest/people?limit=5").await;
    assert_eq!(s, 200);
    let want = captured_body("10_people_list_limit5.json");
    assert_eq!(keys(&body), keys(&want));
    assert_eq!(keys(&body["pageInfo"]), keys(&want["pageInfo"]));
    let got = &body["data"]["people"][0];
    let real = &want["data"]["people"][0];
    assert_eq!(keys(got), keys(real), "person field set and order");
    for composite in [
        "name",
        "emails",
        "linkedinLink",
        "phones",
        "createdBy",
        "whatsapp",
    ] {
        assert_eq!(keys(&got[composite]), keys(&real[composite]), "{composite}");
    }
    assert_eq!(body["totalCount"], 30);
    assert_eq!(body["data"]["people"].as_array().unwrap().len(), 5);
    // Cursors are opaque base64 (not UUIDs).
    let c = body["pageInfo"]["endCursor"].as_str().unwrap();
    assert!(uuid::Uuid::parse_str(c).is_err());

    let (_, companies) = sim.get("/rest/companies?limit=1").await;
    let real = &captured_body("12_companies_list_limit5.json")["data"]["companies"][0];
    assert_eq!(keys(&companies["data"]["companies"][0]), keys(real));
    let (_, opps) = sim.get("/rest/opportunities?limit=1").await;
    let real = &captured_body("17_opportunities_list.json")["data"]["opportunities"][0];
    assert_eq!(keys(&opps["data"]["opportunities"][0]), keys(real));
}

#[tokio::test]
async fn limit_defaults_to_60_clamps_to_200_and_rejects_negative_or_nan() {
    let sim = Sim::start(250).await;
    let (_, b) = sim.get("/rest/people").await;
    assert_eq!(b["data"]["people"].as_array().unwrap().len(), 60);
    let (_, b) = sim.get("/rest/people?limit=1000").await;
    assert_eq!(b["data"]["people"].as_array().unwrap().len(), 200);
    assert_eq!(sim.get("/rest/people?limit=-1").await.0, 400);
    assert_eq!(sim.get("/rest/people?limit=NaN").await.0, 400);
    // Unknown parameters are ignored (`after` does nothing: page 1 again).
    let (_, p1) = sim.get("/rest/people?limit=3").await;
    let (_, again) = sim.get("/rest/people?limit=3&after=whatever").await;
    assert_eq!(p1["data"], again["data"]);
}

async fn walk(sim: &Sim, base: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("{base}&starting_after={}", enc(c)),
            None => base.to_string(),
        };
        let (s, b) = sim.get(&path).await;
        assert_eq!(s, 200, "{path}: {b}");
        let plural = base.trim_start_matches("/rest/").split('?').next().unwrap();
        out.extend(b["data"][plural].as_array().unwrap().iter().cloned());
        if !b["pageInfo"]["hasNextPage"].as_bool().unwrap() {
            break;
        }
        cursor = b["pageInfo"]["endCursor"].as_str().map(str::to_string);
    }
    out
}

#[tokio::test]
async fn pagination_visits_every_record_exactly_once_in_each_order() {
    let sim = Sim::start(457).await;
    for base in [
        "/rest/people?limit=50",
        "/rest/people?limit=200&order_by=updatedAt%5BAscNullsFirst%5D",
        "/rest/people?limit=37&order_by=createdAt%5BDescNullsLast%5D",
        "/rest/people?limit=60&order_by=name.lastName%5BAscNullsLast%5D,jobTitle%5BDescNullsFirst%5D",
        "/rest/people?limit=45&order_by=id%5BDescNullsFirst%5D",
    ] {
        let rows = walk(&sim, base).await;
        let ids: HashSet<&str> = rows.iter().map(|r| r["id"].as_str().unwrap()).collect();
        assert_eq!(rows.len(), 457, "{base}");
        assert_eq!(ids.len(), 457, "{base}");
    }
    let by_updated = walk(
        &sim,
        "/rest/people?limit=100&order_by=updatedAt%5BAscNullsFirst%5D",
    )
    .await;
    let ts: Vec<&str> = by_updated
        .iter()
        .map(|r| r["updatedAt"].as_str().unwrap())
        .collect();
    assert!(ts.windows(2).all(|w| w[0] <= w[1]));
    let by_id = walk(&sim, "/rest/people?limit=100").await;
    let ids: Vec<&str> = by_id.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "default order is id ASC"
    );
}

#[tokio::test]
async fn ending_before_pages_backwards_in_every_order() {
    let sim = Sim::start(30).await;
    for order in [
        "",
        "&order_by=updatedAt%5BAscNullsFirst%5D",
        "&order_by=createdAt%5BDescNullsLast%5D",
        "&order_by=name.lastName%5BAscNullsLast%5D",
    ] {
        let (_, p1) = sim.get(&format!("/rest/people?limit=10{order}")).await;
        let after = enc(p1["pageInfo"]["endCursor"].as_str().unwrap());
        let (_, p2) = sim
            .get(&format!(
                "/rest/people?limit=10{order}&starting_after={after}"
            ))
            .await;
        let before = enc(p2["pageInfo"]["startCursor"].as_str().unwrap());
        let (_, back) = sim
            .get(&format!(
                "/rest/people?limit=10{order}&ending_before={before}"
            ))
            .await;
        assert_eq!(
            back["data"]["people"], p1["data"]["people"],
            "order {order:?}"
        );
        assert_ne!(p1["data"]["people"], p2["data"]["people"]);
    }
}

#[tokio::test]
async fn filters_support_ops_conjunctions_and_nested_fields() {
    let sim = Sim::start(0).await;
    let h = sim.server.handle();
    for (first, last, email, job, n) in [
        ("John", "Smith", "john@a.com", "CEO", 1),
        ("Jane", "Smith", "jane@b.com", "cto", 2),
        ("Anna", "O'Neil", "anna@a.com", "Sales, EMEA", 3),
        ("Bob", "Brown", "", "", 4),
    ] {
        h.insert_record(
            "people",
            json!({"name": {"firstName": first, "lastName": last}, "emails": {"primaryEmail": email}, "jobTitle": job, "position": n}),
        );
    }
    let count = |f: &str| {
        let path = format!("/rest/people?filter={}", enc(f));
        let sim = &sim;
        async move {
            let (s, b) = sim.get(&path).await;
            assert_eq!(s, 200, "{path}: {b}");
            b["totalCount"].as_u64().unwrap()
        }
    };
    assert_eq!(count("name.lastName[eq]:Smith").await, 2);
    assert_eq!(
        count("name.lastName[eq]:\"Smith\",name.firstName[eq]:'Jane'").await,
        1
    );
    assert_eq!(
        count("or(name.firstName[eq]:John,name.firstName[eq]:Bob)").await,
        2
    );
    assert_eq!(count("not(name.lastName[eq]:Smith)").await, 2);
    assert_eq!(
        count("and(name.lastName[neq]:Smith,jobTitle[ilike]:\"%emea%\")").await,
        1
    );
    assert_eq!(count("emails.primaryEmail[endsWith]:@a.com").await, 2);
    assert_eq!(count("emails.primaryEmail[like]:\"j%\"").await, 2);
    assert_eq!(count("name.firstName[in]:[\"John\",\"Anna\"]").await, 2);
    assert_eq!(count("name.firstName[startsWith]:J").await, 2);
    assert_eq!(count("name.lastName[eq]:\"O'Neil\"").await, 1);
    assert_eq!(count("jobTitle[eq]:\"Sales, EMEA\"").await, 1);
    assert_eq!(count("position[gte]:2,position[lt]:4").await, 2);
    assert_eq!(count("deletedAt[is]:NULL").await, 4);
    assert_eq!(count("companyId[is]:NULL").await, 4);
    let (s, _) = sim
        .get(&format!(
            "/rest/people?filter={}",
            enc("not(a[eq]:1,b[eq]:2)")
        ))
        .await;
    assert_eq!(s, 400);
}

#[tokio::test]
async fn create_get_update_and_delete_round_trip_with_captured_envelopes() {
    let sim = Sim::start(0).await;
    let body = json!({"name": {"firstName": "Ada", "lastName": "Lovelace"}, "emails": {"primaryEmail": "ada.lovelace@example.org", "additionalEmails": []}, "jobTitle": "Analyst", "phones": {"primaryPhoneNumber": "5550100", "primaryPhoneCountryCode": "GB", "primaryPhoneCallingCode": "+44"}});
    let (s, created) = sim.post("/rest/people", body).await;
    assert_eq!(s, StatusCode::CREATED);
    let p = &created["data"]["createPerson"];
    assert_eq!(p["createdBy"]["source"], "API");
    assert_eq!(p["createdAt"], p["updatedAt"]);
    assert_eq!(p["phones"]["additionalPhones"], json!([]));
    let id = p["id"].as_str().unwrap().to_string();
    let (s, got) = sim.get(&format!("/rest/people/{id}")).await;
    assert_eq!(s, 200);
    assert_eq!(&got["data"]["person"], p);

    let (s, upd) = sim
        .patch(
            &format!("/rest/people/{id}"),
            json!({"name": {"firstName": "Partial"}}),
        )
        .await;
    assert_eq!(s, 200);
    let u = &upd["data"]["updatePerson"];
    assert_eq!(
        u["name"],
        json!({"firstName": "Partial", "lastName": "Lovelace"}),
        "PATCH merges sub-fields"
    );
    assert!(u["updatedAt"].as_str() > p["updatedAt"].as_str());

    let (s, e) = sim
        .post(
            "/rest/people",
            json!({"name": "should be an object", "noSuchField": 1}),
        )
        .await;
    assert_eq!(s, 400);
    assert_eq!(e, captured_body("67_error_create_invalid_body.json"));
    let (s, e) = sim.post("/rest/people", json!({"firstName": "flat"})).await;
    assert_eq!(s, 400);
    assert_eq!(
        e["messages"][0],
        "Object person doesn't have any \"firstName\" field."
    );

    let (s, soft) = sim
        .delete(&format!("/rest/people/{id}?soft_delete=true"))
        .await;
    assert_eq!(s, 200);
    let d = &soft["data"]["deletePerson"];
    assert_eq!(
        d["deletedAt"], d["updatedAt"],
        "soft delete sets updatedAt = deletedAt"
    );
    assert_eq!(sim.get(&format!("/rest/people/{id}")).await.0, 404);
    assert_eq!(
        sim.patch(&format!("/rest/people/{id}"), json!({"jobTitle": "x"}))
            .await
            .0,
        404
    );

    // 2.21.0 bug: restore by id answers 400 exactly like capture 48c; restore by filter works.
    let (s, e) = sim
        .call(
            reqwest::Method::PATCH,
            &format!("/rest/restore/people/{id}"),
            None,
        )
        .await;
    assert_eq!(s, 400);
    assert_eq!(
        e["messages"][0],
        format!(
            "Query path '/rest/restore/people/{id}' invalid. Valid examples: /rest/companies/id or /rest/companies or /rest/batch/companies"
        )
    );
    let (s, r) = sim
        .call(
            reqwest::Method::PATCH,
            &format!(
                "/rest/restore/people?filter={}",
                enc(&format!("id[eq]:\"{id}\""))
            ),
            None,
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(r["data"]["restorePeople"][0]["deletedAt"], Value::Null);
    assert_eq!(sim.get(&format!("/rest/people/{id}")).await.0, 200);

    let (s, hard) = sim.delete(&format!("/rest/people/{id}")).await;
    assert_eq!(s, 200);
    assert_eq!(hard, json!({"data": {"deletePerson": {"id": id}}}));
    assert_eq!(sim.get(&format!("/rest/people/{id}")).await.0, 404);
    assert_eq!(
        sim.delete(&format!("/rest/people/{id}")).await,
        (
            StatusCode::NOT_FOUND,
            captured_body("69_error_delete_unknown_id.json")
        )
    );
}

#[tokio::test]
async fn batch_create_and_many_by_filter_operations() {
    let sim = Sim::start(0).await;
    let items: Vec<Value> = (0..3)
        .map(|i| json!({"name": {"firstName": format!("B{i}"), "lastName": "Batch"}, "emails": {"primaryEmail": format!("b{i}@x.io")}}))
        .collect();
    let (s, b) = sim.post("/rest/batch/people", Value::Array(items)).await;
    assert_eq!(s, 201);
    assert_eq!(b["data"]["createPeople"].as_array().unwrap().len(), 3);
    let f = enc("name.lastName[eq]:Batch");
    let (s, u) = sim
        .patch(
            &format!("/rest/people?filter={f}"),
            json!({"jobTitle": "Batched"}),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(u["data"]["updatePeople"].as_array().unwrap().len(), 3);
    let (s, d) = sim.delete(&format!("/rest/people?filter={f}")).await;
    assert_eq!(s, 200);
    assert_eq!(keys(&d["data"]["deletePeople"][0]), vec!["id"]);
    assert_eq!(sim.server.handle().count_with_deleted("people"), 0);

    let too_many: Vec<Value> = (0..201)
        .map(|i| json!({"name": {"firstName": format!("N{i}")}}))
        .collect();
    let (s, e) = sim.post("/rest/batch/people", Value::Array(too_many)).await;
    assert_eq!(s, 400);
    assert_eq!(
        e["messages"][0],
        "Maximum number of records to upsert is 200."
    );
}

#[tokio::test]
async fn batch_with_a_duplicate_email_is_rejected_atomically() {
    let sim = Sim::start(0).await;
    let items = json!([
        {"emails": {"primaryEmail": "same@x.io"}},
        {"emails": {"primaryEmail": "SAME@x.io"}}
    ]);
    let (s, e) = sim.post("/rest/batch/people", items).await;
    assert_eq!(s, 400);
    assert_eq!(e["messages"][0], "A duplicate entry was detected");
    assert_eq!(
        sim.server.handle().count("people"),
        0,
        "nothing of the batch remains"
    );
}

#[tokio::test]
async fn emails_are_unique_case_insensitively_and_stored_lowercase() {
    let sim = Sim::start(0).await;
    let (s, a) = sim
        .post(
            "/rest/people",
            json!({"emails": {"primaryEmail": "ada.x@example.com"}}),
        )
        .await;
    assert_eq!(s, 201);
    let (s, e) = sim
        .post(
            "/rest/people",
            json!({"emails": {"primaryEmail": "ADA.X@EXAMPLE.COM"}}),
        )
        .await;
    assert_eq!(s, 400);
    assert_eq!(
        e,
        captured_body("52_people_create_duplicate_email_error.json")
    );
    let (s, up) = sim
        .post("/rest/people?upsert=true", json!({"name": {"firstName": "Case", "lastName": "Upserted"}, "emails": {"primaryEmail": "Ada.x@Example.com"}}))
        .await;
    assert_eq!(s, 201);
    let u = &up["data"]["createPerson"];
    assert_eq!(u["id"], a["data"]["createPerson"]["id"]);
    assert_eq!(u["emails"]["primaryEmail"], "ada.x@example.com");
    assert_eq!(u["name"]["lastName"], "Upserted");
}

#[tokio::test]
async fn upsert_revives_soft_deleted_rows_and_rejects_multiple_matches() {
    let sim = Sim::start(0).await;
    let (_, a) = sim
        .post(
            "/rest/people",
            json!({"emails": {"primaryEmail": "a@x.io"}}),
        )
        .await;
    let a_id = a["data"]["createPerson"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, b) = sim
        .post(
            "/rest/people",
            json!({"emails": {"primaryEmail": "b@x.io"}}),
        )
        .await;
    let b_id = b["data"]["createPerson"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        sim.delete(&format!("/rest/people/{a_id}?soft_delete=true"))
            .await
            .0,
        200
    );
    let (s, r) = sim
        .post(
            "/rest/people?upsert=true",
            json!({"name": {"firstName": "Revived"}, "emails": {"primaryEmail": "a@x.io"}}),
        )
        .await;
    assert_eq!(s, 201);
    assert_eq!(r["data"]["createPerson"]["id"], a_id.as_str());
    assert_eq!(r["data"]["createPerson"]["deletedAt"], Value::Null);
    // id of A + email of B → two matches → 400.
    let (s, e) = sim
        .post(
            "/rest/people?upsert=true",
            json!({"id": a_id, "emails": {"primaryEmail": "b@x.io"}}),
        )
        .await;
    assert_eq!(s, 400, "{e}");
    assert!(e["messages"][0].as_str().unwrap().contains(&b_id));
    // Batch upsert updates one and creates one.
    let (s, r) = sim
        .post("/rest/batch/people?upsert=true", json!([{"emails": {"primaryEmail": "B@x.io"}, "jobTitle": "upd"}, {"emails": {"primaryEmail": "c@x.io"}}]))
        .await;
    assert_eq!(s, 201);
    assert_eq!(r["data"]["createPeople"][0]["id"], b_id.as_str());
    assert_eq!(sim.server.handle().count("people"), 3);
    // Companies match on domainName.primaryLinkUrl.
    let (_, c1) = sim
        .post(
            "/rest/companies",
            json!({"name": "Acme", "domainName": {"primaryLinkUrl": "acme.com"}}),
        )
        .await;
    let (_, c2) = sim
        .post(
            "/rest/companies?upsert=true",
            json!({"name": "Acme Inc", "domainName": {"primaryLinkUrl": "acme.com"}}),
        )
        .await;
    assert_eq!(
        c1["data"]["createCompany"]["id"],
        c2["data"]["createCompany"]["id"]
    );
}

#[tokio::test]
async fn incremental_listing_by_updated_at_and_soft_deleted_visibility() {
    let sim = Sim::start(40).await;
    let h = sim.server.handle();
    let (_, created) = sim
        .post(
            "/rest/people",
            json!({"emails": {"primaryEmail": "w@x.io"}}),
        )
        .await;
    let id = created["data"]["createPerson"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, upd) = sim
        .patch(
            &format!("/rest/people/{id}"),
            json!({"jobTitle": "Watermark"}),
        )
        .await;
    let mark = upd["data"]["updatePerson"]["updatedAt"]
        .as_str()
        .unwrap()
        .to_string();
    let f = enc(&format!("updatedAt[gte]:\"{mark}\""));
    let (_, since) = sim
        .get(&format!(
            "/rest/people?order_by=updatedAt%5BAscNullsFirst%5D&filter={f}"
        ))
        .await;
    assert_eq!(
        since["totalCount"], 1,
        "gte with the exact updatedAt includes the record"
    );
    assert_eq!(since["data"]["people"][0]["id"], id.as_str());

    // updatedAt strictly increases on every write.
    let other = h.records("people")[0]["id"].as_str().unwrap().to_string();
    let a = h
        .update_record("people", &other, json!({"jobTitle": "t1"}))
        .unwrap();
    let b = h
        .update_record("people", &other, json!({"jobTitle": "t2"}))
        .unwrap();
    assert!(a["updatedAt"].as_str() < b["updatedAt"].as_str());

    assert_eq!(
        sim.delete(&format!("/rest/people/{id}?soft_delete=true"))
            .await
            .0,
        200
    );
    let (_, plain) = sim
        .get(&format!(
            "/rest/people?filter={}",
            enc(&format!("id[eq]:\"{id}\""))
        ))
        .await;
    assert_eq!(plain["totalCount"], 0, "plain lists hide soft-deleted rows");
    let (_, deleted) = sim
        .get("/rest/people?filter=deletedAt%5Bis%5D%3ANOT_NULL")
        .await;
    assert_eq!(deleted["totalCount"], 1);
    let both = enc(&format!(
        "and(deletedAt[is]:NOT_NULL,updatedAt[gte]:\"{mark}\")"
    ));
    let (_, d2) = sim.get(&format!("/rest/people?filter={both}")).await;
    assert_eq!(d2["data"]["people"][0]["id"], id.as_str());
}

#[tokio::test]
async fn page_hook_can_change_records_between_pages() {
    let sim = Sim::start(30).await;
    let h = sim.server.handle();
    let target = h.records("people")[29]["id"].as_str().unwrap().to_string();
    let t2 = target.clone();
    h.set_page_hook(Some(std::sync::Arc::new(
        move |h: &twenty_sim::SimHandle, plural: &str, n: u64| {
            if plural == "people" && n == 1 {
                h.update_record("people", &t2, json!({"jobTitle": "changed while paging"}));
            }
        },
    )));
    let rows = walk(
        &sim,
        "/rest/people?limit=10&order_by=updatedAt%5BAscNullsFirst%5D",
    )
    .await;
    let hits = rows.iter().filter(|r| r["id"] == target.as_str()).count();
    assert!(
        hits >= 1,
        "the changed record is seen (possibly twice) when ordering by updatedAt"
    );
    assert_eq!(
        h.record("people", &target).unwrap()["jobTitle"],
        "changed while paging"
    );
}

#[tokio::test]
async fn depth_one_embeds_relations() {
    let sim = Sim::start(50).await;
    let (_, b) = sim
        .get("/rest/people?limit=5&depth=1&filter=companyId%5Bis%5D%3ANOT_NULL")
        .await;
    let p = &b["data"]["people"][0];
    assert_eq!(p["company"]["id"], p["companyId"]);
    let (_, c) = sim
        .get(&format!(
            "/rest/companies/{}?depth=1",
            p["companyId"].as_str().unwrap()
        ))
        .await;
    let people = c["data"]["company"]["people"].as_array().unwrap();
    assert!(people.iter().any(|x| x["id"] == p["id"]));
    assert_eq!(sim.get("/rest/people?depth=2").await.0, 400);
}

#[tokio::test]
async fn duplicates_endpoint_finds_people_by_email_or_name() {
    let sim = Sim::start(0).await;
    let h = sim.server.handle();
    h.insert_record("people", json!({"name": {"firstName": "Dup", "lastName": "One"}, "emails": {"primaryEmail": "d1@x.io"}}));
    let (s, b) = sim.post("/rest/people/duplicates", json!({"data": [{"emails": {"primaryEmail": "D1@x.io"}}, {"name": {"firstName": "dup", "lastName": "one"}}, {"name": {"firstName": "No"}}]})).await;
    assert_eq!(s, 200);
    assert_eq!(b["data"][0]["totalCount"], 1);
    assert_eq!(
        b["data"][1]["personDuplicates"].as_array().unwrap().len(),
        1
    );
    assert_eq!(b["data"][2]["totalCount"], 0);
}

#[tokio::test]
async fn newest_flavor_restores_by_id() {
    let sim = Sim::flavor(0, twenty_sim::ServerFlavor::Newest).await;
    let (_, c) = sim
        .post(
            "/rest/people",
            json!({"emails": {"primaryEmail": "r@x.io"}}),
        )
        .await;
    let id = c["data"]["createPerson"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    sim.delete(&format!("/rest/people/{id}?soft_delete=true"))
        .await;
    let (s, r) = sim
        .call(
            reqwest::Method::PATCH,
            &format!("/rest/restore/people/{id}"),
            None,
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(r["data"]["restorePerson"]["deletedAt"], Value::Null);
}

#[tokio::test]
async fn legacy_flavor_uses_message_bodies_and_batch_max_60() {
    let sim = Sim::flavor(0, twenty_sim::ServerFlavor::Legacy).await;
    let (s, e) = sim.get("/rest/people/not-a-uuid").await;
    assert_eq!(s, 400);
    assert_eq!(e["message"], "'not-a-uuid' is not a valid UUID");
    assert!(e.get("messages").is_none());
    let items: Vec<Value> = (0..61)
        .map(|i| json!({"name": {"firstName": format!("N{i}")}}))
        .collect();
    let (s, e) = sim.post("/rest/batch/people", Value::Array(items)).await;
    assert_eq!(s, 400);
    assert_eq!(e["message"], "Maximum number of records to upsert is 60.");
}

#[tokio::test]
async fn seeding_is_deterministic_and_messy() {
    let a = Sim::with(twenty_sim::SimConfig::new("k").seed_people(300).rng_seed(7)).await;
    let b = Sim::with(twenty_sim::SimConfig::new("k").seed_people(300).rng_seed(7)).await;
    let ra = a.server.handle().records("people");
    let rb = b.server.handle().records("people");
    let strip = |v: &Vec<Value>| {
        v.iter()
            .map(|r| {
                (
                    r["id"].clone(),
                    r["name"].clone(),
                    r["emails"].clone(),
                    r["phones"].clone(),
                )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(strip(&ra), strip(&rb));
    let h = a.server.handle();
    assert_eq!(h.count("people"), 300);
    assert_eq!(h.count("companies"), 30);
    assert!(h.count("opportunities") > 0 && h.count("tasks") > 0 && h.count("notes") > 0);
    assert!(
        h.count("noteTargets") > 0 && h.count("taskTargets") > 0 && h.count("workspaceMembers") > 0
    );
    let emails: Vec<&str> = ra
        .iter()
        .filter_map(|r| r["emails"]["primaryEmail"].as_str())
        .collect();
    assert!(
        emails
            .iter()
            .any(|e| e.chars().any(|c| c.is_ascii_uppercase())),
        "mixed-case emails"
    );
    assert!(emails.iter().any(|e| e.is_empty()), "missing emails");
    let names: Vec<String> = ra.iter().map(|r| r["name"].to_string()).collect();
    let distinct: HashSet<&String> = names.iter().collect();
    assert!(distinct.len() < names.len(), "duplicate names");
    let codes: HashSet<&str> = ra
        .iter()
        .filter_map(|r| r["phones"]["primaryPhoneCountryCode"].as_str())
        .collect();
    assert!(codes.len() >= 4, "phones from several countries: {codes:?}");
}

/// About a third of the seeded people come in import batches of 60 sharing one `updatedAt` and
/// `createdAt`, the rest one at a time; the seeded values do not depend on it.
#[tokio::test]
async fn seeded_people_come_partly_in_import_batches_sharing_a_timestamp() {
    let sim = Sim::with(
        twenty_sim::SimConfig::new("k")
            .seed_people(3_000)
            .rng_seed(7),
    )
    .await;
    let people = sim.server.handle().records("people");
    let mut by_stamp: std::collections::HashMap<&str, usize> = Default::default();
    for p in &people {
        assert_eq!(p["createdAt"], p["updatedAt"], "{p}");
        *by_stamp
            .entry(p["updatedAt"].as_str().unwrap())
            .or_default() += 1;
    }
    let batched: usize = by_stamp.values().filter(|&&n| n > 1).sum();
    assert!(
        by_stamp.values().all(|&n| n <= 60),
        "batches hold at most 60"
    );
    assert!(
        (600..=1_500).contains(&batched),
        "about a third in batches: {batched} of 3000"
    );
    assert!(by_stamp.values().any(|&n| n == 60), "full batches of 60");
}

/// People sharing `createdAt` values, created out of id order: 3 timestamps × 4 ids.
async fn people_with_tied_created_at(sim: &Sim) -> Vec<(String, String)> {
    const STAMPS: [&str; 3] = [
        "2026-01-01T00:00:00.000Z",
        "2026-01-02T00:00:00.000Z",
        "2026-01-03T00:00:00.000Z",
    ];
    const IDS: [u32; 12] = [7, 2, 11, 0, 5, 9, 3, 10, 1, 6, 8, 4];
    let rows: Vec<(String, String)> = IDS
        .iter()
        .enumerate()
        .map(|(k, n)| {
            (
                STAMPS[k % 3].to_string(),
                format!("00000000-0000-4000-8000-{n:012x}"),
            )
        })
        .collect();
    let items: Vec<Value> = rows
        .iter()
        .map(|(ts, id)| json!({"id": id, "createdAt": ts, "name": {"firstName": "Tie", "lastName": id}}))
        .collect();
    let (s, b) = sim.post("/rest/batch/people", Value::Array(items)).await;
    assert_eq!(s, 201, "{b}");
    rows
}

/// Every page of a forward walk, as lists of ids.
async fn page_ids_forward(sim: &Sim, base: &str) -> Vec<Vec<String>> {
    let mut pages = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("{base}&starting_after={}", enc(c)),
            None => base.to_string(),
        };
        let (s, b) = sim.get(&path).await;
        assert_eq!(s, 200, "{path}: {b}");
        pages.push(ids_of(&b));
        if !b["pageInfo"]["hasNextPage"].as_bool().unwrap() {
            return pages;
        }
        cursor = b["pageInfo"]["endCursor"].as_str().map(str::to_string);
        assert!(pages.len() < 100, "{base}: paging does not end");
    }
}

/// Every page of a backward walk from `cursor`, nearest page first.
async fn page_ids_backward(sim: &Sim, base: &str, mut cursor: String) -> Vec<Vec<String>> {
    let mut pages = Vec::new();
    loop {
        let path = format!("{base}&ending_before={}", enc(&cursor));
        let (s, b) = sim.get(&path).await;
        assert_eq!(s, 200, "{path}: {b}");
        pages.push(ids_of(&b));
        if !b["pageInfo"]["hasPreviousPage"].as_bool().unwrap() {
            return pages;
        }
        cursor = b["pageInfo"]["startCursor"].as_str().unwrap().to_string();
        assert!(pages.len() < 100, "{base}: paging does not end");
    }
}

fn ids_of(page: &Value) -> Vec<String> {
    page["data"]["people"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect()
}

/// Capture 14 (`order_by=createdAt[DescNullsLast]`, equal `createdAt`) and FACTS.md §1.4: ties
/// are broken by `id` ASC in a descending time order too; paging in small steps, forwards and
/// backwards, keeps that order with no gap and no duplicate.
#[tokio::test]
async fn equal_timestamps_are_ordered_by_id_ascending_in_descending_time_order() {
    let sim = Sim::start(0).await;
    let rows = people_with_tied_created_at(&sim).await;
    let expect = |desc: bool, since: &str| -> Vec<String> {
        let mut v: Vec<&(String, String)> =
            rows.iter().filter(|(ts, _)| ts.as_str() >= since).collect();
        v.sort_by(|a, b| {
            let by_time = if desc { b.0.cmp(&a.0) } else { a.0.cmp(&b.0) };
            by_time.then(a.1.cmp(&b.1))
        });
        v.into_iter().map(|(_, id)| id.clone()).collect()
    };
    let since = enc("createdAt[gte]:2026-01-02T00:00:00.000Z");
    let cases = [
        ("createdAt%5BDescNullsLast%5D", true, ""),
        ("createdAt%5BDescNullsFirst%5D", true, ""),
        ("createdAt%5BAscNullsFirst%5D", false, ""),
        ("createdAt%5BDescNullsLast%5D&filter=", true, "2026-01-02"),
    ];
    for (order, desc, from) in cases {
        let filter = if from.is_empty() {
            String::new()
        } else {
            since.clone()
        };
        let want = expect(desc, from);
        for limit in [1, 2, 3, 5] {
            let base = format!("/rest/people?limit={limit}&order_by={order}{filter}");
            let forward = page_ids_forward(&sim, &base).await;
            assert!(forward.iter().all(|p| p.len() <= limit), "{base}");
            assert_eq!(forward.concat(), want, "{base}: forward");

            // Backwards from the last record: every record before it, in the same order.
            let whole = base.replacen(&format!("limit={limit}&"), "limit=200&", 1);
            let (_, all) = sim.get(&whole).await;
            assert_eq!(ids_of(&all), want, "{whole}");
            let end = all["pageInfo"]["endCursor"].as_str().unwrap().to_string();
            let mut backward = page_ids_backward(&sim, &base, end).await;
            assert!(backward.iter().all(|p| p.len() <= limit), "{base}");
            backward.reverse();
            assert_eq!(
                backward.concat(),
                want[..want.len() - 1],
                "{base}: backward"
            );
        }
    }
}

/// Endpoints a real Twenty serves (captures 01, 02, 18; FACTS.md §1.1) but the simulator does
/// not: an explicit 501 that names the simulator, never a record error such as "not a valid UUID".
#[tokio::test]
async fn unsimulated_endpoints_answer_501_not_a_record_error() {
    let sim = Sim::start(3).await;
    let group_by = format!(
        "/rest/people/groupBy?group_by={}&limit=3",
        enc(r#"[{"jobTitle":true}]"#)
    );
    let cases = [
        (reqwest::Method::GET, group_by.as_str()),
        (reqwest::Method::GET, "/rest/open-api/core"),
        (reqwest::Method::GET, "/rest/open-api/metadata"),
        (reqwest::Method::PATCH, "/rest/people/merge"),
        (
            reqwest::Method::PATCH,
            "/rest/metadata/objects/20202020-0000-4000-8000-000000000000",
        ),
        (
            reqwest::Method::DELETE,
            "/rest/metadata/fields/20202020-0000-4000-8000-000000000000",
        ),
        (reqwest::Method::GET, "/rest/metadata/relations"),
    ];
    for (method, path) in cases {
        let (s, b) = sim.call(method.clone(), path, None).await;
        assert_eq!(s, StatusCode::NOT_IMPLEMENTED, "{method} {path}: {b}");
        assert_eq!(b["statusCode"], 501, "{b}");
        assert_eq!(b["error"], "NotImplementedException", "{b}");
        let message = b["messages"][0].as_str().unwrap();
        assert!(
            message.contains("twenty-sim does not simulate"),
            "{message}"
        );
        assert!(!message.contains("UUID"), "{message}");
    }
    // Still behind authentication, as on the real server (capture 03).
    let r = sim
        .http
        .get(sim.url("/rest/open-api/core"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    // Record ids and object names are still checked.
    assert_eq!(sim.get("/rest/people/not-a-uuid").await.0, 400);
    let (s, b) = sim.get("/rest/unicorns/groupBy").await;
    assert_eq!(s, 400);
    assert_eq!(
        b["messages"][0],
        "object 'unicorns' not found. eg: companies"
    );
}

/// Twenty writes a batch, and a filter mutation, in one query: every record of it gets the same
/// timestamps (capture 50: both records of a batch create share `createdAt` and `updatedAt`). The
/// next request gets a later one.
#[tokio::test]
async fn the_records_of_one_batch_or_filter_mutation_share_their_timestamps() {
    let sim = Sim::start(0).await;
    let captured = captured_body("50_people_batch_create.json");
    let captured = captured["data"]["createPeople"].as_array().unwrap();
    assert_eq!(
        captured[0]["updatedAt"], captured[1]["updatedAt"],
        "the capture"
    );
    let stamps = |records: &Value, field: &str| -> HashSet<String> {
        records
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r[field].as_str().unwrap().to_owned())
            .collect()
    };
    let items: Vec<Value> = (0..5)
        .map(|i| json!({"name": {"firstName": format!("T{i}"), "lastName": "Tied"}}))
        .collect();
    let (s, b) = sim
        .post("/rest/batch/people", Value::Array(items.clone()))
        .await;
    assert_eq!(s, 201);
    let created = stamps(&b["data"]["createPeople"], "updatedAt");
    assert_eq!(created.len(), 1, "{created:?}");
    assert_eq!(stamps(&b["data"]["createPeople"], "createdAt"), created);
    let f = enc("name.lastName[eq]:Tied");
    let (s, u) = sim
        .patch(
            &format!("/rest/people?filter={f}"),
            json!({"jobTitle": "Tied"}),
        )
        .await;
    assert_eq!(s, 200);
    let updated = stamps(&u["data"]["updatePeople"], "updatedAt");
    assert_eq!(updated.len(), 1, "{updated:?}");
    assert!(
        updated.iter().next() > created.iter().next(),
        "a later request, a later time"
    );
    // Two batches in two requests: two times.
    let (_, again) = sim.post("/rest/batch/people", Value::Array(items)).await;
    let next = stamps(&again["data"]["createPeople"], "updatedAt");
    assert_eq!(next.len(), 1);
    assert_ne!(next, created);
}
