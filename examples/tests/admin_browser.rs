//! The admin page in a real headless Chromium (driven through ChromeDriver with fantoccini):
//! load the page, enter the token, press "Sync now", see the new run appear.
//!
//! Needs `chromium` and `chromedriver` on the PATH (`.ci/ensure-chromium` installs Debian's);
//! without them the test fails and says so.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use examples::admin::{AdminState, serve};
use examples::cli::app::Engine;
use fantoccini::{ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use secrecy::SecretString;
use serde_json::json;
use twenty_client::Client;
use twenty_sim::{SimConfig, SimServer};
use twenty_sync_core::engine::FieldMap;
use twenty_sync_core::memory::{MemorySource, MemoryState};
use twenty_sync_core::{SourceOfTruth, StateStore, SyncEngine};

const TOKEN: &str = "browser-admin-token";

/// Kills ChromeDriver when the test ends, whatever happens.
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_chromedriver() -> (Driver, u16) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let child = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot start chromedriver ({e}): this test drives a real headless Chromium; \
                 install it with `.ci/ensure-chromium` (Debian packages chromium and chromium-driver)"
            )
        });
    (Driver(child), port)
}

#[tokio::test]
async fn pressing_sync_now_on_the_page_starts_a_run_that_appears_on_the_page() {
    // The server: twenty-sim, memory stores, the admin router on a free port.
    let sim = SimServer::start(SimConfig::new("k").seed_people(5).rate_limit(None))
        .await
        .expect("simulator");
    let client = Client::builder(sim.base_url(), SecretString::from("k"))
        .no_rate_limit()
        .build()
        .expect("client");
    let source = MemorySource::new();
    let engine: Engine = SyncEngine::builder(
        client,
        Arc::new(source.clone()) as Arc<dyn SourceOfTruth>,
        Arc::new(MemoryState::new()) as Arc<dyn StateStore>,
    )
    .entity(Arc::new(
        FieldMap::new("contacts", "people", "person")
            .field("email", "emails.primaryEmail")
            .match_key("emails.primaryEmail"),
    ))
    .build()
    .expect("engine");
    let admin = AdminState::new(
        Arc::new(engine),
        vec!["contacts".into()],
        SecretString::from(TOKEN),
    );
    let (addr, _server) = serve("127.0.0.1:0".parse().unwrap(), admin)
        .await
        .expect("admin server");

    // The browser.
    let (_driver, port) = start_chromedriver();
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({"args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]}),
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    let browser = loop {
        match ClientBuilder::new(HttpConnector::new())
            .capabilities(caps.clone())
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
        {
            Ok(c) => break c,
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!(
                "cannot open a Chromium session through chromedriver: {e}; \
                 run `.ci/ensure-chromium` to install chromium and chromium-driver"
            ),
        }
    };

    let result = async {
        browser.goto(&format!("http://{addr}/")).await?;
        assert_eq!(browser.title().await?, "twenty-sync admin");
        browser
            .find(Locator::Id("token"))
            .await?
            .send_keys(TOKEN)
            .await?;
        browser
            .find(Locator::Id("use-token"))
            .await?
            .click()
            .await?;
        // The dashboard appears once the status has loaded with the token.
        browser
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css("#dashboard:not([hidden])"))
            .await?;
        assert!(
            browser.find_all(Locator::Css("tr.run")).await?.is_empty(),
            "no run before the button is pressed"
        );
        browser.find(Locator::Id("sync-now")).await?.click().await?;
        let row = browser
            .wait()
            .at_most(Duration::from_secs(15))
            .for_element(Locator::Css("tr.run"))
            .await?;
        let text = row.text().await?;
        assert!(
            text.contains("sync"),
            "the new run's row names its mode: {text}"
        );
        // It finishes, and the page shows it.
        let done = Instant::now() + Duration::from_secs(15);
        loop {
            let text = browser.find(Locator::Css("tr.run")).await?.text().await?;
            if text.contains("succeeded") {
                break;
            }
            assert!(
                Instant::now() < done,
                "the run did not show as succeeded: {text}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let last_sync = browser.find(Locator::Id("last-sync")).await?.text().await?;
        assert_ne!(last_sync, "never");
        // The simulator runs on this host's clock: the run has no warnings.
        let warnings = browser.find(Locator::Id("warnings")).await?.text().await?;
        assert_eq!(warnings, "none");
        Ok::<_, fantoccini::error::CmdError>(())
    }
    .await;
    let _ = browser.close().await;
    result.expect("the page works in Chromium");
    assert_eq!(
        source.records("contacts").len(),
        5,
        "the run pulled the people"
    );
    sim.shutdown().await;
}
