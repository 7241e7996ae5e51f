//! A real Prometheus (Debian's `prometheus`) scrapes a lab of three daemons on two subnets from
//! the lab router's namespace, and its query API says what an administrator's dashboard would:
//! one manager per subnet, and the sleeper counted as proxied after `lab sleep`. promtool checks
//! a scrape, the alerting rules and their unit tests; every expression of the dashboard runs.

#![cfg(target_os = "linux")]

mod common;

use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::lab::{H, TestLab};
use common::wait_for;
use serde_json::Value;

/// Whether `tool` is installed; under `CI=true` its absence fails the test.
fn have(tool: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        let why = format!("{tool} is not installed (Debian: apt-get install prometheus)");
        assert!(std::env::var("CI").as_deref() != Ok("true"), "{why}: CI installs it");
        eprintln!("SKIPPED: {why}");
    }
    found
}

fn contrib(path: &str) -> String {
    format!("{}/contrib/{path}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn promtool_accepts_the_alerting_rules_and_their_unit_tests_pass() {
    if !have("promtool") {
        return;
    }
    for args in [
        vec!["check", "rules", &contrib("prometheus/wakeproxy-alerts.yml")],
        vec!["test", "rules", &contrib("prometheus/wakeproxy-alerts.test.yml")],
    ] {
        let out = Command::new("promtool").args(&args).output().expect("promtool runs");
        assert!(
            out.status.success(),
            "promtool {args:?}:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Prometheus in a namespace, stopped (and its files removed) when dropped.
struct Prometheus {
    child: Child,
    ns: String,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    fn start(ns: &str, targets: &[String]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let quoted: Vec<String> = targets.iter().map(|t| format!("'{t}'")).collect();
        let config = format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 900ms\n  evaluation_interval: 1s\n\
             rule_files:\n  - '{}'\n\
             scrape_configs:\n  - job_name: wakeproxy\n    static_configs:\n      - targets: [{}]\n",
            contrib("prometheus/wakeproxy-alerts.yml"),
            quoted.join(", ")
        );
        let file = dir.path().join("prometheus.yml");
        std::fs::write(&file, config).unwrap();
        let log = std::fs::File::create(dir.path().join("prometheus.log")).unwrap();
        let child = Command::new("ip")
            .args(["netns", "exec", ns, "prometheus"])
            .arg(format!("--config.file={}", file.display()))
            .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
            .args(["--web.listen-address=127.0.0.1:9090", "--log.level=warn"])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("prometheus starts");
        let p = Self { child, ns: ns.to_owned(), _dir: dir };
        let ready = wait_for(Duration::from_secs(30), || {
            p.curl(&["http://127.0.0.1:9090/-/ready"]).then_some(())
        });
        assert!(ready.is_some(), "prometheus never became ready: {}", p.log());
        p
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self._dir.path().join("prometheus.log")).unwrap_or_default()
    }

    fn curl(&self, args: &[&str]) -> bool {
        self.curl_out(args).is_some()
    }

    fn curl_out(&self, args: &[&str]) -> Option<Vec<u8>> {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.ns, "curl", "-sf", "--max-time", "5"])
            .args(args)
            .output()
            .ok()?;
        out.status.success().then_some(out.stdout)
    }

    /// The result of an instant query: (labels, value) per series.
    fn query(&self, q: &str) -> Vec<(Value, f64)> {
        let body = self
            .curl_out(&[
                "--get",
                "--data-urlencode",
                &format!("query={q}"),
                "http://127.0.0.1:9090/api/v1/query",
            ])
            .unwrap_or_else(|| panic!("query {q} failed: {}", self.log()));
        let v: Value = serde_json::from_slice(&body).expect("the query API answers JSON");
        assert_eq!(v["status"], "success", "{q}: {v}");
        v["data"]["result"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .map(|r| {
                let value = r["value"][1].as_str().and_then(|s| s.parse().ok()).unwrap_or(f64::NAN);
                (r["metric"].clone(), value)
            })
            .collect()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn prometheus_scrapes_a_lab_and_sees_one_manager_per_subnet_and_the_sleeper_proxied() {
    if !have("prometheus") || !have("promtool") {
        return;
    }
    let Some(lab) = TestLab::up("prom", 3, 2) else { return };
    lab.converged(40 * H).expect("one manager per subnet");
    let rows = lab.status();
    let targets: Vec<String> = rows
        .iter()
        .map(|r| format!("{}:{}", r["ip"].as_str().unwrap(), wakeproxy::lab::METRICS_PORT))
        .collect();
    let prom = Prometheus::start(&format!("{}-rt", lab.name), &targets);

    // Every daemon is scraped.
    let up = wait_for(Duration::from_secs(30), || {
        let up = prom.query("sum(up{job=\"wakeproxy\"})");
        (up.first().map(|(_, v)| *v) == Some(3.0)).then_some(())
    });
    assert!(up.is_some(), "not every daemon is up: {:?}", prom.query("up"));

    // Exactly one manager per subnet, as the dashboard counts them.
    let managers = wait_for(Duration::from_secs(30), || {
        let per = prom.query("sum by (subnet) (wakeproxy_role{role=\"manager\"})");
        (per.len() == 2 && per.iter().all(|(_, v)| *v == 1.0)).then_some(per)
    });
    let managers =
        managers.unwrap_or_else(|| panic!("{:?}", prom.query("wakeproxy_role{role=\"manager\"}")));
    let mut subnets: Vec<&str> =
        managers.iter().map(|(l, _)| l["subnet"].as_str().unwrap()).collect();
    subnets.sort();
    assert_eq!(subnets, ["10.0.1.0/24", "10.0.2.0/24"]);

    // A scrape passes promtool's checks.
    let scrape =
        prom.curl_out(&[&format!("http://{}/metrics", targets[0])]).expect("a scrape of h1");
    let mut check = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    check.stdin.take().unwrap().write_all(&scrape).unwrap();
    let checked = check.wait_with_output().unwrap();
    assert!(
        checked.status.success(),
        "promtool check metrics:\n{}{}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );

    // h3 (subnet 0, with h1) sleeps: h1 answers for it, and Prometheus counts it proxied.
    lab.ok(&["sleep", "h3"]);
    let proxied = wait_for(Duration::from_secs(30), || {
        let q = prom.query("sum(wakeproxy_sleepers_proxied{subnet=\"10.0.1.0/24\"})");
        (q.first().map(|(_, v)| *v) == Some(1.0)).then_some(())
    });
    assert!(proxied.is_some(), "{:?}", prom.query("wakeproxy_sleepers_proxied"));
    let unproxied = prom.query("max(wakeproxy_sleepers_unproxied)");
    assert_eq!(unproxied.first().map(|(_, v)| *v), Some(0.0), "{unproxied:?}");

    // Every expression of the dashboard is valid PromQL against this data.
    let dashboard: Value = serde_json::from_str(
        &std::fs::read_to_string(contrib("grafana/wakeproxy-dashboard.json")).unwrap(),
    )
    .unwrap();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            prom.query(target["expr"].as_str().unwrap());
        }
    }
}
