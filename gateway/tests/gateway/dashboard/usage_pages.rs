//! The Usage pages and their CSV downloads over plain HTTP: what each
//! role gets, the figures they show, and another tenant's refused.

use super::boundary::{client, get_with_cookie, login};
use super::gateway_with_tenant;
use crate::harness::{ADMIN_KEY, install, output};
use serde_json::json;

#[test]
fn a_tenants_usage_page_and_csv_show_its_calls_and_no_one_elses() {
    let (gw, admin, member) = gateway_with_tenant();
    gw.post("/v1/tenants", Some(ADMIN_KEY), json!({"id": "beta"})).expect(201);
    let (beta_member, _) = crate::harness::mint(&gw, "beta", ADMIN_KEY, "member");
    install(&gw, "acme", ADMIN_KEY, "echo", false);
    install(&gw, "beta", ADMIN_KEY, "echo", false);
    for i in 0..2 {
        output(&gw, &member, "echo", &json!({"i": i}));
    }
    for i in 0..5 {
        output(&gw, &beta_member, "echo", &json!({"i": i}));
    }
    let cookie = login(&gw, &member);
    let text = |path: &str| {
        let r = get_with_cookie(&gw, path, &cookie);
        (r.status().as_u16(), r.text().unwrap())
    };

    // By day and by hour: acme's two calls, drawn and in the table.
    for path in ["/ui/t/acme/usage", "/ui/t/acme/usage?step=hour"] {
        let (status, page) = text(path);
        assert_eq!(status, 200, "{path}: {page}");
        assert!(page.contains("2 calls in all, at most 2 in one"), "{path}: {page}");
        assert_eq!(page.matches("<rect class=\"calls\"").count(), 1, "one bar with calls: {page}");
        assert!(page.contains("<td data-label=\"Skill\">echo</td><td data-label=\"Calls\">2</td>"), "{page}");
    }
    // A bad step is the 400 page; another tenant's pages are 404.
    for (path, status) in [
        ("/ui/t/acme/usage?step=week", 400),
        ("/ui/t/acme/usage?step=%FF", 400),
        ("/ui/t/acme/usage.csv?step=minute", 400),
        ("/ui/t/beta/usage", 404),
        ("/ui/t/beta/usage.csv", 404),
        ("/ui/usage", 403),
        ("/ui/usage.csv", 403),
    ] {
        let (got, page) = text(path);
        assert_eq!(got, status, "{path}: {page}");
        assert!(!page.contains(",5,"), "none of beta's figures: {page}");
    }

    // The CSV: a download of the series' rows.
    let r = get_with_cookie(&gw, "/ui/t/acme/usage.csv", &cookie);
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.headers()["content-type"], "text/csv; charset=utf-8");
    assert_eq!(r.headers()["content-disposition"], "attachment; filename=\"usage-acme-by-day.csv\"");
    let body = r.text().unwrap();
    let lines: Vec<&str> = body.lines().collect();
    assert_eq!(lines[0], "start,skill,calls,errors,fuel,wall_us,cost,p50_us,p95_us,p99_us");
    assert_eq!(lines.len(), 2, "{body}");
    let row: Vec<&str> = lines[1].split(',').collect();
    assert_eq!((row[1], row[2], row[3]), ("echo", "2", "0"), "{body}");
    assert!(row[0].parse::<u64>().is_ok_and(|s| s % 86_400 == 0), "a day's start: {body}");

    // The operator: every tenant, and the CSV of every tenant's rows.
    let op = login(&gw, ADMIN_KEY);
    let r = get_with_cookie(&gw, "/ui/usage", &op);
    assert_eq!(r.status().as_u16(), 200);
    let page = r.text().unwrap();
    for t in ["acme", "beta"] {
        assert!(page.contains(&format!("<a href=\"/ui/t/{t}/usage\">{t}</a>")), "{page}");
    }
    let csv = get_with_cookie(&gw, "/ui/usage.csv", &op).text().unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "tenant,skill,calls,errors,fuel,wall_us,memory_peak_bytes,cost");
    assert!(lines.iter().any(|l| l.starts_with("acme,echo,2,0,")), "{csv}");
    assert!(lines.iter().any(|l| l.starts_with("beta,echo,5,0,")), "{csv}");
    assert!(lines.contains(&"tenant,agent,model,day,input_tokens,output_tokens,tool_calls,cost"), "{csv}");
    // An admin of acme reads acme's only, like a member.
    let admin_cookie = login(&gw, &admin);
    assert_eq!(get_with_cookie(&gw, "/ui/usage.csv", &admin_cookie).status().as_u16(), 403);
    // Not signed in: to the sign-in page.
    let r = client().get(gw.url("/ui/t/acme/usage.csv")).send().unwrap();
    assert_eq!(r.status().as_u16(), 303);
}

#[test]
fn a_skills_detail_page_shows_its_record_calls_and_agents_and_no_other_tenants() {
    let config = format!(
        "[providers.openai]\nkind = \"openai\"\nbase_url = \"{}\"\nmax_retries = 0\n",
        crate::harness::fake_llm().base("openai")
    );
    let gw = crate::harness::Gateway::start_with_config(&config);
    let a = crate::harness::tenant(&gw, "det-a");
    let b = crate::harness::tenant(&gw, "det-b");
    install(&gw, &a.id, ADMIN_KEY, "echo", false);
    install(&gw, &b.id, ADMIN_KEY, "echo", false);
    for i in 0..3 {
        output(&gw, &a.member, "echo", &json!({"i": i}));
    }
    output(&gw, &b.member, "echo", &json!({}));
    let spec = json!({"name": "helper", "provider": "openai", "model": "gpt-test", "skills": ["echo"],
                      "api_key_secret": "LLM_KEY"});
    gw.post(&a.path("/agents"), Some(&a.admin), spec).expect(201);
    let cookie = login(&gw, &a.member);
    let get = |path: &str| {
        let r = get_with_cookie(&gw, path, &cookie);
        (r.status().as_u16(), r.text().unwrap())
    };
    let (status, list) = get("/ui/t/det-a/skills");
    assert_eq!(status, 200);
    assert!(list.contains("href=\"/ui/t/det-a/skills/echo/detail\""), "{list}");
    let (status, page) = get("/ui/t/det-a/skills/echo/detail");
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("<h1>Skill echo</h1>"), "{page}");
    assert!(page.contains("3 calls by hour."), "det-a's three calls, not det-b's: {page}");
    assert!(page.contains("<li>helper</li>"), "the agent that may call it: {page}");
    for (path, status) in [("/ui/t/det-a/skills/nope/detail", 404), ("/ui/t/det-b/skills/echo/detail", 404)] {
        assert_eq!(get(path).0, status, "{path}");
    }
}
