{{/* Names and labels shared by every template. */}}

{{- define "kuberun.fullname" -}}
{{- if contains "kuberun" .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-kuberun" .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "kuberun.selectorLabels" -}}
app.kubernetes.io/name: kuberun-operator
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "kuberun.labels" -}}
{{ include "kuberun.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: operator
app.kubernetes.io/part-of: kuberun
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "kuberun.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "kuberun.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "kuberun.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* Active/standby: more than one replica, coordinated through a Lease (or kopf peering). */}}
{{- define "kuberun.ha" -}}
{{- if and (or .Values.peering.enabled .Values.leaderElection.enabled) (gt (int .Values.replicas) 1) }}true{{ end -}}
{{- end -}}

{{/* Where each backend's Secret is mounted; config.yaml points at these paths. */}}
{{- define "kuberun.secretsDir" -}}/etc/kuberun/secrets{{- end -}}

{{/*
Where one namespace's own Slurm login key is mounted: (list secretsDir cluster namespace).
A sibling of the clusters' own mounts (a mount inside a read-only Secret volume cannot be made).
*/}}
{{- define "kuberun.slurmIdentityDir" -}}
{{ index . 0 }}/slurm-identities/{{ index . 1 }}/{{ index . 2 }}
{{- end -}}
{{- define "kuberun.slurmIdentityKey" -}}
{{ include "kuberun.slurmIdentityDir" . }}/id_ed25519
{{- end -}}
{{/* The volume of that key: (list cluster namespace); a namespace (63) would not fit a volume name, its digest does. */}}
{{- define "kuberun.slurmIdentityVolume" -}}
slurmid-{{ index . 0 }}-{{ index . 1 | sha256sum | trunc 10 }}
{{- end -}}

{{/* The dashboard's own labels: apart from the operator's, so no operator Service selects its pods. */}}
{{- define "kuberun.dashboardSelectorLabels" -}}
app.kubernetes.io/name: kuberun-dashboard
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "kuberun.dashboardLabels" -}}
{{ include "kuberun.dashboardSelectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: dashboard
app.kubernetes.io/part-of: kuberun
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* "true" when any backend grants namespaces by label selector: the operator then reads Namespaces. */}}
{{- define "kuberun.namespaceSelectorUsed" -}}
{{- $used := false }}
{{- range .Values.slurm.clusters }}{{ if .allowedNamespaceSelector }}{{ $used = true }}{{ end }}{{ end }}
{{- range .Values.lepton.workspaces }}{{ if .allowedNamespaceSelector }}{{ $used = true }}{{ end }}{{ end }}
{{- if and .Values.skypilot.endpoint .Values.skypilot.allowedNamespaceSelector }}{{ $used = true }}{{ end }}
{{- if $used }}true{{ end }}
{{- end -}}

{{/*
The record server's TLS Secret: the one the admin names, else the chart's own (recordServer.tls.generate),
else empty (plain HTTP).
*/}}
{{- define "kuberun.recordServerTLSSecret" -}}
{{- if .Values.recordServer.tls.secretName -}}
{{- .Values.recordServer.tls.secretName -}}
{{- else if .Values.recordServer.tls.generate -}}
{{- printf "%s-records-tls" (include "kuberun.fullname" .) -}}
{{- end -}}
{{- end -}}
