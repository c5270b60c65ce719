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
