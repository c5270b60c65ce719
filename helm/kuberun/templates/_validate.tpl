{{/*
Cross-field checks the JSON schema cannot state (unique names), and the HA rule again with the
reason spelled out, for installs that skip schema validation (--skip-schema-validation).
*/}}
{{- define "kuberun.validate" -}}
{{- if and (gt (int .Values.replicas) 1) (not .Values.peering.enabled) (not .Values.leaderElection.enabled) -}}
{{- fail (printf "replicas: %v needs peering.enabled: true or (better) leaderElection.enabled: true; without either every replica would reconcile the same Experiments at once" .Values.replicas) -}}
{{- end -}}
{{- if and .Values.peering.enabled .Values.leaderElection.enabled -}}
{{- fail "peering.enabled and leaderElection.enabled: choose one (leaderElection; peering is deprecated)" -}}
{{- end -}}
{{- if gt (int .Values.shards) 1 -}}
{{- if not .Values.leaderElection.enabled -}}
{{- fail (printf "shards: %v needs leaderElection.enabled: true (each shard is owned through its Lease)" .Values.shards) -}}
{{- end -}}
{{- if lt (int .Values.replicas) (int .Values.shards) -}}
{{- fail (printf "shards: %v needs replicas >= %v (pod N owns shard N mod shards)" .Values.shards .Values.shards) -}}
{{- end -}}
{{- end -}}
{{- $le := .Values.leaderElection -}}
{{- if and $le.enabled (not (and (lt (float64 $le.retryPeriodSeconds) (float64 $le.renewDeadlineSeconds)) (lt (float64 $le.renewDeadlineSeconds) (float64 $le.leaseDurationSeconds)))) -}}
{{- fail "leaderElection: needs retryPeriodSeconds < renewDeadlineSeconds < leaseDurationSeconds" -}}
{{- end -}}
{{- range $backend, $entries := dict "slurm.clusters" .Values.slurm.clusters "lepton.workspaces" .Values.lepton.workspaces -}}
{{- $seen := dict -}}
{{- range $entries -}}
{{- if hasKey $seen .name -}}
{{- fail (printf "%s: the name %q is used twice; names must be unique (tasks select a backend by name)" $backend .name) -}}
{{- end -}}
{{- $_ := set $seen .name true -}}
{{- end -}}
{{- end -}}
{{- end -}}
