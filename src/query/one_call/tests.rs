//! The one-call query against the project's fake server: useful answers, useless ones
//! (refused, zero-call kept), a dead server, a small context window.

use serde_json::json;

use super::*;
use crate::conditioning::Conditioning;
use crate::llm::LlmConfig;
use crate::query::{run, Strategy};
use crate::testing::fake_server::{FakeServer, Reply};

fn index(caps: &[&str], enc: &mut TextEmbedding) -> LoadedIndex {
    let captions: Vec<String> = caps.iter().map(|s| s.to_string()).collect();
    LoadedIndex {
        ids: (0..caps.len()).map(|i| format!("c{i}")).collect(),
        labels: vec![None; caps.len()],
        embeddings: enc.embed(&captions).unwrap(),
        captions,
    }
}

fn one_call(criterion: &str, k: Option<usize>) -> QueryOptions {
    QueryOptions::new(criterion).with_k(k).with_strategy(Strategy::OneCall)
}

fn client(server: &FakeServer) -> LlmClient {
    LlmClient::new(LlmConfig::new(server.base_url(), "m").with_max_retries(0)).unwrap()
}

fn verdict(r: &ClusterResult) -> Verdict {
    r.diagnostics.one_call.as_ref().expect("a one-call report").verdict.clone()
}

/// Six players in four scenes with each of `instruments`: caption `i` plays
/// `instruments[i % 4]`.
fn band(instruments: &[&str; 4]) -> Vec<String> {
    let who = ["A man", "A woman", "A young girl", "An old man", "A street musician", "A student"];
    let scenes = ["on a stage.", "in a park.", "at a wedding.", "in a small room."];
    let mut caps = Vec::new();
    for w in who {
        for sc in scenes {
            for ins in instruments {
                caps.push(format!("{w} playing the {ins} {sc}"));
            }
        }
    }
    caps
}

/// A category as the model answers it.
fn cat(name: &str, description: &str, examples: &[&str]) -> serde_json::Value {
    json!({"name": name, "description": description, "examples": examples})
}

fn answer(cats: &[serde_json::Value]) -> String {
    json!({ "categories": cats }).to_string()
}

#[test]
#[cfg_attr(not(clusterby_text_model), ignore = "needs all-MiniLM-L6-v2 and ONNX Runtime: bash scripts/setup.sh")]
fn a_useful_answer_decides_what_the_captions_cannot() {
    let mut enc = crate::embed::text::test_encoder();
    // Strings (guitar, harp) and wind (saxophone, flute): nothing in the captions says which is
    // which. Some players play two instruments of one family: the captions' co-mentions vouch
    // for the grouping where the embeddings do not follow it.
    let mut owned = band(&["guitar", "harp", "saxophone", "flute"]);
    for (a, b) in [("guitar", "harp"), ("saxophone", "flute")] {
        for who in ["A man", "A woman", "A student", "An old man"] {
            for scene in ["on a stage.", "in a park.", "at a wedding."] {
                owned.push(format!("{who} playing the {a} and the {b} {scene}"));
            }
        }
    }
    let caps: Vec<&str> = owned.iter().map(String::as_str).collect();
    let idx = index(&caps, &mut enc);
    let cluster_of = |r: &ClusterResult, i: usize| r.assignments[i].cluster;
    let zero = run(&idx, &mut enc, &QueryOptions::new("musical instrument").with_k(Some(2)), None).unwrap();
    let server = FakeServer::start(vec![Reply::content(&answer(&[
        cat("Strings", "instruments whose strings are plucked or bowed", &["guitar", "Harps"]),
        cat("Wind", "instruments played by blowing", &["saxophones", "flute (12)"]),
    ]))]);
    let r = run(&idx, &mut enc, &one_call("musical instrument", Some(2)), Some(&client(&server))).unwrap();
    let body = &server.chat_requests()[0].body;
    assert!(
        body.contains("harp (") && body.contains("\"description\""),
        "values and the schema reach the prompt: {body}"
    );
    let report = r.diagnostics.one_call.clone().unwrap();
    assert!(report.verdict.kept(), "{report:?}");
    assert_eq!((r.namer, r.llm_calls, report.values_grouped), (NamerKind::Llm, 1, 4));
    let strings = cluster_of(&r, 0);
    assert_eq!(r.clusters[strings as usize].name, "Strings");
    for (i, caption) in caps.iter().enumerate().take(96) {
        assert_eq!(cluster_of(&r, i) == strings, i % 4 < 2, "caption {i}: {caption}");
    }
    let strings_wind = |r: &ClusterResult| (0..96).all(|i| (cluster_of(r, i) == cluster_of(r, 0)) == (i % 4 < 2));
    assert!(strings_wind(&r) && !strings_wind(&zero), "the answer, not the captions, made the split");
}

#[test]
#[cfg_attr(not(clusterby_text_model), ignore = "needs all-MiniLM-L6-v2 and ONNX Runtime: bash scripts/setup.sh")]
fn useless_answers_are_refused_and_keep_the_zero_call_clusters() {
    let mut enc = crate::embed::text::test_encoder();
    let owned = band(&["guitar", "harp", "saxophone", "flute"]);
    let idx = index(&owned.iter().map(String::as_str).collect::<Vec<_>>(), &mut enc);
    let zero = run(&idx, &mut enc, &QueryOptions::new("musical instrument").with_k(Some(2)), None).unwrap();
    let mut ask = |content: &str, check: GroupingCheck| {
        let server = FakeServer::start(vec![Reply::content(content)]);
        let opts = one_call("musical instrument", Some(2)).with_one_call(OneCallParams::default().with_grouping(check));
        run(&idx, &mut enc, &opts, Some(&client(&server))).unwrap()
    };
    let refused = |reason| Verdict::Refused { reason };
    // Names that restate the criterion (a small model's "Musical Instruments").
    let r = ask(
        &answer(&[cat("Musical Instruments", "the instruments", &["guitar"]), cat("Instrument", "", &["flute"])]),
        GroupingCheck::Checked,
    );
    assert_eq!((verdict(&r), r.namer), (refused(Refusal::NamesTheCriterion), NamerKind::Keywords));
    assert_eq!(r.labels(), zero.labels());
    // Every example in one category: the other gets no voters.
    let r = ask(
        &answer(&[cat("Played", "played by people", &["guitar", "harp", "saxophone", "flute"]), cat("Other", "", &[])]),
        GroupingCheck::Checked,
    );
    assert_eq!(r.labels(), zero.labels(), "{:?}", r.diagnostics.one_call);
    assert!(!verdict(&r).kept());
    // Duplicated or placeholder names are no answer at all.
    for content in [
        answer(&[cat("Strings", "", &[]), cat("strings", "", &[])]),
        answer(&[cat("Category 1", "", &[]), cat("Category 2", "", &[])]),
        answer(&[cat("Strings", "", &[])]),
    ] {
        let r = ask(&content, GroupingCheck::Checked);
        assert_eq!((verdict(&r), r.llm_calls), (Verdict::Failed { reason: Failure::UnusableAnswer }, 1), "{content}");
        assert_eq!(r.labels(), zero.labels());
    }
    // Trusted still refuses a grouping that gives captions to one category only.
    let r = ask(
        &answer(&[cat("Played", "", &["guitar", "harp", "saxophone", "flute"]), cat("Other", "", &[])]),
        GroupingCheck::Trusted,
    );
    assert!(
        matches!(verdict(&r), Verdict::Refused { .. } | Verdict::Kept { because: KeptBecause::Trusted }),
        "{:?}",
        verdict(&r)
    );
}

#[test]
#[cfg_attr(not(clusterby_text_model), ignore = "needs all-MiniLM-L6-v2 and ONNX Runtime: bash scripts/setup.sh")]
fn a_dead_or_refusing_server_keeps_the_zero_call_result() {
    let mut enc = crate::embed::text::test_encoder();
    let owned = band(&["guitar", "harp", "saxophone", "flute"]);
    let idx = index(&owned.iter().map(String::as_str).collect::<Vec<_>>(), &mut enc);
    let opts = one_call("musical instrument", Some(2));
    let zero = run(&idx, &mut enc, &QueryOptions::new("musical instrument").with_k(Some(2)), None).unwrap();
    let server = FakeServer::start(vec![Reply::status(500, "down"); 8]);
    let r = run(&idx, &mut enc, &opts, Some(&client(&server))).unwrap();
    assert_eq!((verdict(&r), r.llm_calls), (Verdict::Failed { reason: Failure::CallFailed }, 1));
    assert_eq!((r.labels(), r.namer), (zero.labels(), NamerKind::Keywords));
    // A prompt the server rejects (too long for its context): the detail says what to lower.
    let server = FakeServer::start(vec![Reply::status(400, "the request exceeds the available context size")]);
    let r = run(&idx, &mut enc, &opts, Some(&client(&server))).unwrap();
    let detail = r.diagnostics.one_call.as_ref().unwrap().detail.clone().unwrap();
    assert!(detail.contains("HTTP 400") && detail.contains("lower --llm-values"), "{detail}");
    // Nothing listening at all.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let gone = LlmClient::new(LlmConfig::new(format!("http://127.0.0.1:{port}/v1"), "m").with_max_retries(0)).unwrap();
    let r = run(&idx, &mut enc, &opts, Some(&gone)).unwrap();
    assert_eq!((verdict(&r), r.labels()), (Verdict::Failed { reason: Failure::CallFailed }, zero.labels()));
}

#[test]
#[cfg_attr(not(clusterby_text_model), ignore = "needs all-MiniLM-L6-v2 and ONNX Runtime: bash scripts/setup.sh")]
fn a_small_context_window_lists_what_fits() {
    let mut enc = crate::embed::text::test_encoder();
    let owned = band(&["guitar", "harp", "saxophone", "flute"]);
    let idx = index(&owned.iter().map(String::as_str).collect::<Vec<_>>(), &mut enc);
    let opts = one_call("musical instrument", Some(2));
    let listed = |body: &str| -> usize {
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        let prompt = v["messages"][1]["content"].as_str().unwrap().to_string();
        prompt.lines().nth(1).map_or(0, |l| l.split("), ").count())
    };
    let full = {
        let s = FakeServer::start(vec![Reply::content("{}")]);
        let r = run(&idx, &mut enc, &opts, Some(&client(&s))).unwrap();
        assert_eq!(verdict(&r), Verdict::Failed { reason: Failure::UnusableAnswer });
        listed(&s.chat_requests()[0].body)
    };
    // A window that holds the answer and three words; the server counts far fewer prompt
    // tokens than were sent, as Ollama does after cutting a prompt.
    let window = 400 + 2 * 64 + 32 + 3 * 6;
    let server = FakeServer::with_handler(move |r| match r.path.as_str() {
        "/props" => Reply::raw(200, &format!("{{\"default_generation_settings\":{{\"n_ctx\":{window}}}}}")),
        "/v1/chat/completions" => Reply::counted("{}", 3),
        _ => Reply::status(404, "no"),
    });
    let r = run(&idx, &mut enc, &opts, Some(&client(&server))).unwrap();
    let body = server.chat_requests()[0].body.clone();
    let n = listed(&body);
    assert!((1..full).contains(&n), "{n} of {full} values listed");
    let max_tokens = serde_json::from_str::<serde_json::Value>(&body).unwrap()["max_tokens"].as_u64().unwrap() as usize;
    assert!(max_tokens >= 2 * 64 + 32 && max_tokens <= window, "max_tokens {max_tokens}");
    let report = r.diagnostics.one_call.unwrap();
    assert_eq!((report.values_listed, report.values_available, report.context_window), (n, full, Some(window as u32)));
    assert!(report.prompt_cut_by_server);
}

#[test]
#[cfg_attr(not(clusterby_text_model), ignore = "needs all-MiniLM-L6-v2 and ONNX Runtime: bash scripts/setup.sh")]
fn without_k_the_call_asks_for_the_k_the_zero_call_query_chooses() {
    let mut enc = crate::embed::text::test_encoder();
    let players = band(&["guitar", "harp", "saxophone", "flute"]);
    let idx = index(&players.iter().map(String::as_str).collect::<Vec<_>>(), &mut enc);
    let zero = run(&idx, &mut enc, &QueryOptions::new("musical instrument"), None).unwrap();
    assert!(zero.k_auto);
    let server = FakeServer::start(vec![Reply::status(500, "down")]);
    let r = run(&idx, &mut enc, &one_call("musical instrument", None), Some(&client(&server))).unwrap();
    let asked: serde_json::Value = serde_json::from_str(&server.chat_requests()[0].body).unwrap();
    let prompt = asked["messages"][1]["content"].as_str().unwrap();
    assert!(prompt.contains(&format!("into {} categories", zero.k)), "{prompt}");
    assert_eq!((r.k, r.k_auto, r.llm_calls), (zero.k, true, 1));
    assert_eq!((r.k_selection.clone(), r.labels()), (zero.k_selection.clone(), zero.labels()));
    assert!(r.diagnostics.one_call.as_ref().unwrap().k_from_zero_call);
}

#[test]
#[cfg_attr(not(clusterby_text_model), ignore = "needs all-MiniLM-L6-v2 and ONNX Runtime: bash scripts/setup.sh")]
fn one_call_needs_values_conditioning() {
    let mut enc = crate::embed::text::test_encoder();
    let owned = band(&["guitar", "harp", "saxophone", "flute"]);
    let idx = index(&owned.iter().map(String::as_str).collect::<Vec<_>>(), &mut enc);
    let server = FakeServer::start(vec![]);
    let opts = one_call("musical instrument", Some(2)).with_conditioning(Conditioning::None);
    let e = run(&idx, &mut enc, &opts, Some(&client(&server))).unwrap_err();
    assert!(e.to_string().contains("--conditioning values"), "{e}");
    assert!(server.chat_requests().is_empty(), "refused before any call");
}

#[test]
fn names_that_restate_the_criterion_are_recognised() {
    use super::grouping::names_the_criterion;
    assert!(names_the_criterion("Musical Instruments", "musical instrument"));
    assert!(names_the_criterion("instrument", "musical instrument"));
    assert!(!names_the_criterion("String instruments", "musical instrument"));
    assert!(names_the_criterion("Types of products", "type of product"));
    assert!(!names_the_criterion("Shoes", "type of footwear or clothing"));
    // A criterion that lists its kinds keeps them as names; joining them or a slot word does not.
    assert!(!names_the_criterion("Footwear", "type of footwear or clothing"));
    assert!(!names_the_criterion("Clothing", "type of footwear or clothing"));
    assert!(names_the_criterion("Footwear and clothing", "type of footwear or clothing"));
    assert!(names_the_criterion("Type", "type of footwear or clothing"));
    assert!(names_the_criterion("Mood", "mood"));
}

/// `--namer llm` over zero-call clusters: the one call's request, its categories matched to
/// the clusters they describe.
#[test]
#[cfg_attr(not(clusterby_text_model), ignore = "needs all-MiniLM-L6-v2 and ONNX Runtime: bash scripts/setup.sh")]
fn the_namer_asks_the_one_call_question_and_names_the_clusters_it_fits() {
    use crate::naming::NamerFallback;
    let mut enc = crate::embed::text::test_encoder();
    let owned = band(&["violin", "cello", "trumpet", "trombone"]);
    let caps: Vec<&str> = owned.iter().map(String::as_str).collect();
    let idx = index(&caps, &mut enc);
    let opts = QueryOptions::new("musical instrument").with_k(Some(4)).with_namer(NamerKind::Llm);
    let zero = run(&idx, &mut enc, &QueryOptions::new("musical instrument").with_k(Some(4)), None).unwrap();
    let instrument_of = |r: &ClusterResult, c: i64| {
        let i = r.assignments.iter().position(|a| a.cluster == c).unwrap();
        ["violin", "cello", "trumpet", "trombone"].into_iter().find(|w| owned[i].contains(w)).unwrap()
    };
    let useful = answer(&[
        cat("Violin", "the violin", &["violin"]),
        cat("Cello", "the cello", &["cello"]),
        cat("Trumpet", "the trumpet", &["trumpet"]),
        cat("Trombone", "the trombone", &["trombone"]),
    ]);
    let server = FakeServer::start(vec![Reply::content(&useful)]);
    let r = run(&idx, &mut enc, &opts, Some(&client(&server))).unwrap();
    let naming = r.diagnostics.naming.clone().expect("a naming report");
    assert_eq!((naming.namer, naming.fallback, naming.clusters_named), (NamerKind::Llm, None, Some(4)), "{naming:?}");
    // The partition is the zero-call one, and each cluster carries its own instrument's name.
    assert_eq!(r.assignments, zero.assignments);
    for c in &r.clusters {
        assert_eq!(c.name.to_lowercase(), instrument_of(&r, c.id), "{:?}", r.clusters);
    }
    // The request is the one call's: K categories with descriptions and examples.
    let body = &server.chat_requests()[0].body;
    assert!(body.contains("\"categories\"") && body.contains("example words"), "{body}");
    assert_eq!((r.llm_calls, r.strategy), (1, Strategy::ZeroCall));

    // An answer that cycles through three categories names the clusters they fit (brass covers
    // two clusters and names neither); the others keep their keyword names, and the result says
    // why.
    let cycling = answer(&[
        cat("Violin", "the violin", &["violin"]),
        cat("Cello", "the cello", &["cello"]),
        cat("Brass", "brass instruments", &["trumpet", "trombone"]),
        cat("violin", "the violin again", &["violin"]),
    ]);
    let server = FakeServer::start(vec![Reply::content(&cycling)]);
    let r = run(&idx, &mut enc, &opts, Some(&client(&server))).unwrap();
    let naming = r.diagnostics.naming.clone().unwrap();
    assert_eq!((naming.namer, naming.clusters_named), (NamerKind::Llm, Some(2)), "{naming:?}");
    assert!(naming.detail.as_deref().is_some_and(|d| d.contains("3 distinct")), "{naming:?}");
    assert_eq!(r.assignments, zero.assignments);
    for (c, z) in r.clusters.iter().zip(&zero.clusters) {
        match instrument_of(&r, c.id) {
            w @ ("violin" | "cello") => assert_eq!(c.name.to_lowercase(), w),
            _ => assert_eq!(c.name, z.name),
        }
    }

    // Names that do not describe their clusters leave the keyword names.
    let useless = answer(&[
        cat("Music", "music", &["violin", "cello", "trumpet", "trombone"]),
        cat("Sound", "sound", &[]),
        cat("Band", "a band", &[]),
        cat("Stage", "a stage", &[]),
    ]);
    let server = FakeServer::start(vec![Reply::content(&useless)]);
    let r = run(&idx, &mut enc, &opts, Some(&client(&server))).unwrap();
    let naming = r.diagnostics.naming.clone().unwrap();
    assert_eq!(
        (naming.namer, naming.fallback),
        (NamerKind::Keywords, Some(NamerFallback::NamesDoNotFit)),
        "{naming:?}"
    );
    assert_eq!(
        r.clusters.iter().map(|c| &c.name).collect::<Vec<_>>(),
        zero.clusters.iter().map(|c| &c.name).collect::<Vec<_>>()
    );

    // A dead server: keyword names, the failure said.
    let server = FakeServer::start(vec![Reply::status(500, "down")]);
    let r = run(&idx, &mut enc, &opts, Some(&client(&server))).unwrap();
    let naming = r.diagnostics.naming.clone().unwrap();
    assert_eq!((naming.namer, naming.fallback), (NamerKind::Keywords, Some(NamerFallback::CallFailed)), "{naming:?}");
    assert_eq!(r.assignments, zero.assignments);
}
