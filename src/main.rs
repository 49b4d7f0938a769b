//! The `clusterby` command line: parses arguments and calls the library.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use clusterby::cli;

#[derive(Parser)]
#[command(name = "clusterby", version, about = "Cluster images by a criterion stated in words, and name the clusters")]
struct Cli {
    /// Path to libonnxruntime.so (else CLUSTERBY_ORT_LIB / ORT_DYLIB_PATH, the cache, next to the binary).
    #[arg(long, global = true, value_name = "PATH")]
    ort_lib: Option<PathBuf>,
    /// Inference threads (default: all cores).
    #[arg(long, global = true)]
    threads: Option<usize>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List, download and locate models.
    Models {
        #[command(subcommand)]
        action: ModelsAction,
    },
    /// Embed texts with a text encoder and write a float32 .npy matrix (rows in input order).
    EmbedText {
        /// Texts to embed (or use --file).
        texts: Vec<String>,
        /// A file with one text per line.
        #[arg(long, short)]
        file: Option<PathBuf>,
        /// Output .npy file.
        #[arg(long, short, default_value = "embeddings.npy")]
        out: PathBuf,
        /// Catalogue model name or a bring-your-own model folder.
        #[arg(long, short, default_value = "all-MiniLM-L6-v2")]
        model: String,
        #[arg(long, default_value_t = 32)]
        batch_size: usize,
    },
    /// Index a captions file (IC|TC step1_result.jsonl, JSONL with id/caption[/label], or CSV)
    /// or a folder of images (CLIP embeddings, optional captions); re-running only encodes what
    /// is new or changed.
    Index {
        input: PathBuf,
        #[arg(long, short)]
        out: PathBuf,
        /// Text model for captions.
        #[arg(long, short, default_value = "all-MiniLM-L6-v2")]
        model: String,
        /// Images: CLIP model, a catalogue name or a folder with vision_model.onnx,
        /// text_model.onnx, tokenizer.json and preprocessor_config.json.
        #[arg(long, default_value = "clip-vit-base-patch32")]
        clip: String,
        /// Images: labels from this CSV (a file-name column plus label columns) instead of
        /// `{number}_{class}.ext` file names.
        #[arg(long)]
        labels: Option<PathBuf>,
        /// Images: which CSV column is the label stored in the index (default `label`, else the first).
        #[arg(long)]
        label_column: Option<String>,
        #[arg(long, default_value_t = 32)]
        batch_size: usize,
        /// Images: import existing captions (ids matched to image paths or file names).
        #[arg(long)]
        captions: Option<PathBuf>,
        /// Images: caption each image once with an OpenAI-compatible vision endpoint (`openai`).
        #[arg(long)]
        captioner: Option<String>,
        /// Captioner endpoint, e.g. http://127.0.0.1:11434/v1 (env CLUSTERBY_CAPTIONER_BASE_URL).
        #[arg(long, env = "CLUSTERBY_CAPTIONER_BASE_URL", default_value = "http://127.0.0.1:8080/v1")]
        base_url: String,
        /// Captioner model name, e.g. llava (env CLUSTERBY_CAPTIONER_MODEL).
        #[arg(long, env = "CLUSTERBY_CAPTIONER_MODEL", default_value = "default")]
        captioner_model: String,
        /// Environment variable holding the captioner's API key.
        #[arg(long, default_value = "CLUSTERBY_LLM_API_KEY")]
        captioner_api_key_env: String,
        #[arg(long)]
        caption_prompt: Option<String>,
    },
    /// Cluster an index by a criterion and name the clusters.
    Cluster {
        index: PathBuf,
        /// The criterion, in words ("mood", "location", "musical instrument").
        #[arg(long)]
        by: String,
        /// Number of clusters (default: chosen by silhouette).
        #[arg(short)]
        k: Option<usize>,
        #[arg(long, default_value = "kmeans")]
        method: String,
        /// How the criterion conditions the embeddings: values (no LLM call), none, names (one
        /// LLM call groups the criterion values into K categories; needs an endpoint; without
        /// -k, K is chosen as for values), or auto: names when an endpoint is given
        /// (--llm-base-url or CLUSTERBY_LLM_BASE_URL) on a caption index, else values.
        #[arg(long, default_value = "auto")]
        conditioning: String,
        /// A criterion to ignore ("gender"); may be repeated.
        #[arg(long)]
        exclude: Vec<String>,
        /// Weight of the caption embedding against the criterion values (values conditioning):
        /// auto (measured from how much the two agree) or a number in [0, 1].
        #[arg(long, default_value = "auto")]
        caption_weight: String,
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Who names the clusters: keywords (offline) or llm (one call; keywords on failure).
        #[arg(long, default_value = "keywords")]
        namer: String,
        #[command(flatten)]
        llm: LlmArgs,
        /// Most criterion values listed in the one LLM call of --conditioning names (about 7
        /// tokens each, and up to 6 more in the answer); fewer are listed where the server's
        /// context window holds fewer (see --llm-context).
        #[arg(long, default_value_t = clusterby::query::DEFAULT_LLM_VALUES)]
        llm_values: usize,
        /// --conditioning names: checked keeps the model's grouping only if it fits the data
        /// about as well as k-means without the LLM or the captions' co-mentions agree with it
        /// (else the zero-call clusters); trusted keeps any grouping that gives half the
        /// captions to at least two categories (see the README).
        #[arg(long, default_value = "checked")]
        llm_grouping: String,
        /// Image indexes: cluster the image embeddings, the captions, or both
        /// (default: both when every image has a caption, else image).
        #[arg(long)]
        space: Option<String>,
        /// Write the result as JSON.
        #[arg(long)]
        json: Option<PathBuf>,
    },
    /// Write an HTML gallery of a result: one section per cluster with thumbnails and captions.
    Report {
        result: PathBuf,
        /// The index the result came from.
        #[arg(long)]
        index: PathBuf,
        #[arg(long)]
        html: PathBuf,
        /// Thumbnails per cluster.
        #[arg(long, default_value_t = 24)]
        per_cluster: usize,
    },
    /// The full IC|TC pipeline as a baseline: 2N+1 LLM calls (label each caption, merge labels
    /// into K names, assign each caption), answers cached so a killed run resumes.
    Ictc {
        index: PathBuf,
        #[arg(long)]
        by: String,
        #[arg(short)]
        k: usize,
        #[command(flatten)]
        llm: LlmArgs,
        /// Answer cache (default: INDEX/llm-cache.jsonl).
        #[arg(long)]
        cache: Option<PathBuf>,
        /// Only the first N captions.
        #[arg(long)]
        limit: Option<usize>,
        #[arg(long)]
        json: Option<PathBuf>,
    },
    /// Score a result against labels: Hungarian ACC, NMI, ARI.
    Eval {
        result: PathBuf,
        /// An index folder (its labels) or a labels file (CSV or JSONL).
        #[arg(long)]
        labels: PathBuf,
        /// Label column of a CSV labels file (default `label`).
        #[arg(long)]
        column: Option<String>,
    },
    /// Run every conditioning × clustering method on labelled caption sets and write the
    /// ablation table (Markdown + JSON), next to IC|TC's published answers.
    Ablate {
        /// JSON list of {name, file, criterion, k}.
        #[arg(long, default_value = "benches/ablation-sets.json")]
        sets: PathBuf,
        /// Folder holding the sets' files.
        #[arg(long)]
        data: PathBuf,
        #[arg(long, default_value = "notebooks")]
        out: PathBuf,
        /// Where the sets' indexes are cached.
        #[arg(long, default_value = "target/ablation")]
        work: PathBuf,
        /// Only these sets (by name).
        #[arg(long)]
        only: Vec<String>,
        /// Only these clustering methods.
        #[arg(long)]
        method: Vec<String>,
        /// Also name with the LLM and run IC|TC with it (needs --llm-base-url or
        /// CLUSTERBY_LLM_BASE_URL).
        #[arg(long)]
        with_llm: bool,
        #[command(flatten)]
        llm: LlmArgs,
        /// Run IC|TC only on sets of at most this many captions (it makes 2N+1 calls).
        #[arg(long, default_value_t = 1000)]
        ictc_max_n: usize,
    },
    /// Built-in demo: 80 scene captions clustered by "location" and by "mood".
    Demo {
        /// Where to keep the demo index (default: the cache).
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

/// The OpenAI-compatible endpoint (Ollama, vLLM, llama.cpp server, OpenAI).
#[derive(Args)]
struct LlmArgs {
    /// Base URL including /v1, e.g. http://127.0.0.1:11434/v1 for Ollama [default:
    /// http://127.0.0.1:8080/v1]. Giving it makes `cluster` spend its one call (see
    /// --conditioning).
    #[arg(long, env = "CLUSTERBY_LLM_BASE_URL")]
    llm_base_url: Option<String>,
    #[arg(long, env = "CLUSTERBY_LLM_MODEL", default_value = "default")]
    llm_model: String,
    /// Environment variable holding the API key (its value is never printed).
    #[arg(long, default_value = "CLUSTERBY_LLM_API_KEY")]
    llm_api_key_env: String,
    /// Seconds before one call is abandoned (then retried); for the streamed answer of
    /// --conditioning names, seconds without a token (the whole answer may take 30 times as long).
    #[arg(long, default_value_t = 120.0)]
    llm_timeout: f64,
    #[arg(long, default_value_t = 3)]
    llm_retries: usize,
    /// Calls in flight at once.
    #[arg(long, default_value_t = 4)]
    llm_concurrency: usize,
    /// Tokens the server holds per request (prompt and answer), for servers that do not say
    /// (llama.cpp, vLLM, TGI and Ollama are asked); the one-call prompt is fitted to it.
    #[arg(long)]
    llm_context: Option<u32>,
}

const DEFAULT_LLM_BASE_URL: &str = "http://127.0.0.1:8080/v1";

impl LlmArgs {
    /// Whether the user named an endpoint (an empty CLUSTERBY_LLM_BASE_URL does not count).
    fn endpoint_given(&self) -> bool {
        self.llm_base_url.as_deref().is_some_and(|u| !u.trim().is_empty())
    }

    fn config(&self) -> Result<clusterby::llm::LlmConfig, String> {
        if !(self.llm_timeout.is_finite() && self.llm_timeout > 0.0) {
            return Err(format!("--llm-timeout must be a positive number of seconds, not {}", self.llm_timeout));
        }
        if self.llm_context == Some(0) {
            return Err("--llm-context must be at least 1 (tokens per request)".into());
        }
        let base_url = self.llm_base_url.as_deref().filter(|u| !u.trim().is_empty()).unwrap_or(DEFAULT_LLM_BASE_URL);
        Ok(clusterby::llm::LlmConfig::new(base_url, &self.llm_model)
            .with_api_key_env(&self.llm_api_key_env)
            .with_timeout(std::time::Duration::from_secs_f64(self.llm_timeout))
            .with_max_retries(self.llm_retries)
            .with_concurrency(self.llm_concurrency)
            .with_context_window(self.llm_context))
    }
}

#[derive(Subcommand)]
enum ModelsAction {
    /// Show the catalogue and what is installed.
    List,
    /// Download a model from the Hugging Face hub (honours HF_ENDPOINT, HF_TOKEN, HF_HUB_OFFLINE).
    Pull { name: String },
    /// Print the folder of an installed model.
    Path { name: String },
    /// Re-hash an installed model's files against its manifest.
    Verify { name: String },
}

fn main() -> ExitCode {
    clusterby::allocator::reuse_freed_buffers();
    let cli = Cli::parse();
    let ctx = cli::Context::new(cli.ort_lib, cli.threads);
    let result = match cli.command {
        Command::Models { action } => match action {
            ModelsAction::List => cli::models_list(),
            ModelsAction::Pull { name } => cli::models_pull(&name),
            ModelsAction::Path { name } => cli::models_path(&name),
            ModelsAction::Verify { name } => cli::models_verify(&name),
        },
        Command::EmbedText { texts, file, out, model, batch_size } => {
            cli::embed_text(&ctx, &texts, file.as_deref(), &out, &model, batch_size)
        }
        Command::Index {
            input,
            out,
            model,
            clip,
            labels,
            label_column,
            batch_size,
            captions,
            captioner,
            base_url,
            captioner_model,
            captioner_api_key_env,
            caption_prompt,
        } => {
            if input.is_dir() {
                let captioner = match captioner.as_deref() {
                    None => Ok(None),
                    Some("openai") => Ok(Some(
                        clusterby::llm::LlmConfig::new(base_url, captioner_model).with_api_key_env(captioner_api_key_env),
                    )),
                    Some(other) => Err(format!("--captioner: unknown captioner {other:?} (use openai)")),
                };
                match captioner {
                    Ok(captioner) => cli::index_images(
                        &ctx,
                        cli::ImageIndexArgs {
                            root: &input,
                            out: &out,
                            clip: &clip,
                            text_model: &model,
                            labels_csv: labels.as_deref(),
                            label_column: label_column.as_deref(),
                            batch_size,
                            captions: captions.as_deref(),
                            captioner,
                            caption_prompt: caption_prompt.as_deref(),
                        },
                    ),
                    Err(e) => Err(e.into()),
                }
            } else {
                cli::index(&ctx, &input, &out, &model)
            }
        }
        Command::Report { result, index, html, per_cluster } => cli::report(&result, &index, &html, per_cluster),
        Command::Cluster {
            index,
            by,
            k,
            method,
            conditioning,
            exclude,
            caption_weight,
            seed,
            namer,
            llm,
            llm_values,
            llm_grouping,
            space,
            json,
        } => {
            let conditioning = match conditioning.trim() {
                "auto" => Ok(None),
                c => c.parse().map(Some).map_err(|e| format!("--conditioning: {e}, auto")),
            };
            let llm_endpoint_given = llm.endpoint_given();
            let grouping = llm_grouping.parse().map_err(|e| format!("--llm-grouping: {e}"));
            match (method.parse(), conditioning, namer.parse(), llm.config(), caption_weight.parse(), grouping) {
                (Ok(method), Ok(conditioning), Ok(namer), Ok(llm), Ok(caption_weight), Ok(grouping)) => cli::cluster(
                    &ctx,
                    space.as_deref(),
                    cli::ClusterArgs {
                        index_dir: &index,
                        namer,
                        llm: Some(llm),
                        criterion: &by,
                        k,
                        method,
                        conditioning,
                        llm_endpoint_given,
                        exclude,
                        caption_weight,
                        seed,
                        llm_values,
                        grouping,
                        json: json.as_deref(),
                    },
                ),
                (Err(e), ..) => Err(format!("--method: {e}").into()),
                (_, Err(e), ..) => Err(e.into()),
                (_, _, Err(e), ..) => Err(format!("--namer: {e}").into()),
                (_, _, _, Err(e), ..) => Err(e.into()),
                (.., Err(e), _) => Err(format!("--caption-weight: {e}").into()),
                (.., Err(e)) => Err(e.into()),
            }
        }
        Command::Ictc { index, by, k, llm, cache, limit, json } => match llm.config() {
            Ok(llm) => cli::ictc(
                &ctx,
                cli::IctcArgs {
                    index_dir: &index,
                    criterion: &by,
                    k,
                    llm,
                    cache: cache.as_deref(),
                    limit,
                    json: json.as_deref(),
                },
            ),
            Err(e) => Err(e.into()),
        },
        Command::Eval { result, labels, column } => cli::eval(&result, &labels, column.as_deref()),
        Command::Ablate { sets, data, out, work, only, method, with_llm, llm, ictc_max_n } => match llm.config() {
            Ok(cfg) => cli::ablate(
                &ctx,
                cli::AblateArgs {
                    sets_file: &sets,
                    data_dir: &data,
                    out_dir: &out,
                    work_dir: &work,
                    only: &only,
                    methods: &method,
                    llm: with_llm.then_some(cfg),
                    ictc_max_n,
                },
            ),
            Err(e) => Err(e.into()),
        },
        Command::Demo { out } => cli::demo(&ctx, out.as_deref()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
