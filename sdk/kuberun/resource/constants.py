"""Names and limits of the Experiment resource, shared by the SDK, operator and CRD."""

GROUP = "kuberun.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "Experiment"
PLURAL = "experiments"
SINGULAR = "experiment"
# Katib also defines kind Experiment (experiments.kubeflow.org) but no short names, so `krexp`
# is always unambiguous and `exp` is the convenient one on clusters without another claimant.
SHORT_NAMES = ["krexp", "exp"]
CATEGORIES = ["kuberun"]

LABEL_PREFIX = "kuberun.dev"
LABEL_TITLE = f"{LABEL_PREFIX}/title"
LABEL_SUBMITTER = f"{LABEL_PREFIX}/submitted-by"
LABEL_PROJECT = f"{LABEL_PREFIX}/project"
LABEL_EXPERIMENT = f"{LABEL_PREFIX}/experiment"
LABEL_TASK = f"{LABEL_PREFIX}/task"
LABEL_ATTEMPT = f"{LABEL_PREFIX}/attempt"
LABEL_REPRODUCED_FROM = f"{LABEL_PREFIX}/reproduced-from"
# Beside the label (a name): the exact original when several Experiments had that name over time.
ANNOTATION_REPRODUCED_FROM_UID = f"{LABEL_PREFIX}/reproduced-from-uid"
LABEL_CONFIG_DIGEST = f"{LABEL_PREFIX}/config-digest"

# Bounds keep every Experiment below etcd's 1.5 MiB object limit and bound the cost of the CRD's
# CEL rules (the API server rejects rules whose worst-case cost is unbounded): no rule iterates over
# tasks (names are unique by list type), and status is compacted to STATUS_BUDGET (docs/scale.md).
MAX_TASKS = 1000
# In-job restarts of one attempt (FaultTolerance): torchrun's is unbounded; a crash loop should end
# in a failed attempt that people can see and retries can take over.
MAX_RESTARTS = 100
MAX_DEPENDENCIES = 1000
STATUS_BUDGET = 512 * 1024  # bytes of JSON the operator lets status grow to, whatever the retries
MAX_RETRIES = 10
MAX_ATTEMPTS = MAX_RETRIES + 1
MAX_CONDITIONS = 16
MAX_MESSAGE = 1024
MAX_NAME = 63

# Serialized Fiddle configs: inline in the spec up to INLINE_LIMIT each and INLINE_BUDGET in total,
# otherwise split into ConfigMaps of at most CHUNK_SIZE (a ConfigMap holds at most 1 MiB);
# anything above HARD_LIMIT is refused with advice.
INLINE_LIMIT = 128 * 1024
INLINE_BUDGET = 512 * 1024
CHUNK_SIZE = 768 * 1024
# The largest code package (compressed: what is stored and what its digest covers). The packager
# refuses more, and so does the record server's upload (kuberun.packaging.limits re-exports it).
MAX_PACKAGE_BYTES = 64 * 1024 * 1024
HARD_LIMIT = 4 * 1024 * 1024

FIDDLE_ENCODING = "fiddle-json+zlib+base64"
DNS1123_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
