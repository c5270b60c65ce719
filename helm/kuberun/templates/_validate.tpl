{{/*
Cross-field checks the JSON schema cannot state (unique names), and the HA rule again with the
reason spelled out, for installs that skip schema validation (--skip-schema-validation).
*/}}
{{- define "kuberun.validate" -}}
{{- if and (gt (int .Values.replicas) 1) (not .Values.peering.enabled) -}}
{{- fail (printf "replicas: %v needs peering.enabled: true; without kopf peering every replica would reconcile the same Experiments at once" .Values.replicas) -}}
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
