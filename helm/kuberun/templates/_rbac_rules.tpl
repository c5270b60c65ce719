{{/*
The operator's permissions: ONE table, used by the cluster-wide ClusterRole and by the
namespaced Roles alike, so the two modes cannot drift apart. Each rule is what the operator
(or kopf on its behalf) calls; tests/helm/rbac.py reads the rendered set back and the RBAC
test compares it with the requests the operator made against the sandbox API.
*/}}

{{/* Rules on namespaced resources: in a ClusterRole (cluster-wide) or a Role per namespace. */}}
{{- define "kuberun.rbac.namespacedRules" -}}
# Exactly what tests/integration/test_rbac_audit.py saw the operator use; that test fails on any drift.
# Experiments: kopf lists and watches them; the controller relists them periodically and gets one
# again after a failed resourceVersion precondition; delete serves ttlSecondsAfterFinished.
- apiGroups: [kuberun.dev]
  resources: [experiments]
  {{- if or .Values.slurm.clusters .Values.lepton.workspaces .Values.skypilot.endpoint }}
  # patch: the finalizer that cancels remote (Slurm/Lepton/SkyPilot) work on deletion.
  verbs: [get, list, watch, patch, delete]
  {{- else }}
  verbs: [get, list, watch, delete]
  {{- end }}
# Status is written as one atomic patch guarded by resourceVersion.
- apiGroups: [kuberun.dev]
  resources: [experiments/status]
  verbs: [patch]
# The Kubernetes backend: one Job per attempt (deterministic names make create idempotent);
# patch suspends/resumes, delete cancels; get confirms that a recorded Job is really gone (JobLost).
- apiGroups: [batch]
  resources: [jobs]
  verbs: [get, list, watch, create, patch, delete]
# One ConfigMap of task documents per experiment, mounted into task pods; get reads one that a
# create found already there, to adopt it only if this Experiment controls it (NameConflict), and
# (with a Slurm, Lepton or SkyPilot backend) a task's code package chunks, to hand them over the bridge's own
# transport (kuberun_operator.codestore).
- apiGroups: [""]
  resources: [configmaps]
  verbs: [{{ join ", " (ternary (append .Values.rbac.configMapVerbs "get" | uniq) .Values.rbac.configMapVerbs (not (empty (or .Values.slurm.clusters .Values.lepton.workspaces .Values.skypilot.endpoint)))) }}]
{{- if .Values.codeGc.enabled }}
# The code package collector (kuberun_operator.codegc): lists the chunks, marks one no Experiment
# references (patch, guarded by resourceVersion) and deletes it after the grace period.
- apiGroups: [""]
  resources: [configmaps]
  verbs: [list, patch, delete]
{{- end }}
# Headless Services give multi-node (torchrun) tasks stable peer DNS names (get: as for ConfigMaps).
- apiGroups: [""]
  resources: [services]
  verbs: [get, create, delete]
# Pods: watched for what Jobs do not say (an image that cannot be pulled, a missing Secret);
# listed for a failed task's exit code; created only with dryRun=All, to ask whether the
# namespace's admission (Pod Security) admits an attempt's pods before its Job is created
# (a Job's pods refused later would leave the attempt Submitted with no reason).
- apiGroups: [""]
  resources: [pods]
  verbs: [list, watch, create]
# Events on Experiments, for transitions only.
- apiGroups: [""]
  resources: [events]
  verbs: [create]
{{- if or .Values.archive.url .Values.archive.existingSecret }}
# The archive keeps the Events about each Experiment with its record.
- apiGroups: [""]
  resources: [events]
  verbs: [list]
{{- end }}
{{- if .Values.logStore.url }}
# The log store: each Kubernetes attempt's pod log is copied when the attempt ends.
- apiGroups: [""]
  resources: [pods/log]
  verbs: [get]
{{- end }}
{{- if and .Values.peering.enabled .Values.watchNamespaces }}
# Namespaced peering: kopf keeps its liveness in a KopfPeering in each watched namespace.
- apiGroups: [kopf.dev]
  resources: [kopfpeerings]
  verbs: [get, list, watch, patch]
{{- end }}
{{- with .Values.rbac.extraRules }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Rules on cluster-scoped resources: a ClusterRole in both modes, never namespaced objects. */}}
{{- define "kuberun.rbac.clusterRules" -}}
# kopf watches CRDs to notice when experiments.kuberun.dev appears, changes or goes away.
- apiGroups: [apiextensions.k8s.io]
  resources: [customresourcedefinitions]
  verbs: [list, watch]
{{- $selector := include "kuberun.namespaceSelectorUsed" . }}
{{- if and .Values.watchNamespaces $selector }}
# Namespaced mode: kopf lists/watches namespaces to start serving a listed one created later;
# get: a backend grants namespaces by label selector (the operator reads a task's Namespace labels).
- apiGroups: [""]
  resources: [namespaces]
  verbs: [get, list, watch]
{{- else if .Values.watchNamespaces }}
# Namespaced mode: kopf lists/watches namespaces to start serving a listed one created later.
- apiGroups: [""]
  resources: [namespaces]
  verbs: [list, watch]
{{- else if $selector }}
# A backend grants namespaces by label selector: the operator reads a task's Namespace labels
# (one get per namespace per few seconds, cached; kuberun_operator/namespaces.py).
- apiGroups: [""]
  resources: [namespaces]
  verbs: [get]
{{- end }}
{{- if and (not .Values.watchNamespaces) .Values.peering.enabled }}
# Cluster-wide peering: kopf keeps its liveness in one ClusterKopfPeering.
- apiGroups: [kopf.dev]
  resources: [clusterkopfpeerings]
  verbs: [get, list, watch, patch]
{{- end }}
{{- end -}}
