{{/*
Names, labels and the pieces every imgen Deployment shares.
A "component" is one Deployment: gateway, prompt, compliance, provenance, storage,
inference (the API) and inference-worker (the GPU workers); both inference ones run
`imgen serve inference` and read the `inference` settings section.
*/}}

{{- define "imgen.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "imgen.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "imgen.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Name of a component's objects: <fullname>-<component>. Call with (dict "root" $ "component" "prompt"). */}}
{{- define "imgen.componentName" -}}
{{- printf "%s-%s" (include "imgen.fullname" .root) .component | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "imgen.selectorLabels" -}}
app.kubernetes.io/name: {{ include "imgen.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "imgen.labels" -}}
helm.sh/chart: {{ include "imgen.chart" .root }}
{{ include "imgen.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: imgen
{{- end -}}

{{/* Labels of objects that belong to the release, not one component. */}}
{{- define "imgen.releaseLabels" -}}
helm.sh/chart: {{ include "imgen.chart" . }}
app.kubernetes.io/name: {{ include "imgen.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: imgen
{{- end -}}

{{- define "imgen.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "imgen.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* image reference of one of .Values.images: (dict "root" $ "image" "services") */}}
{{- define "imgen.image" -}}
{{- $image := index .root.Values.images .image -}}
{{- printf "%s:%s" $image.repository (default .root.Chart.AppVersion $image.tag) -}}
{{- end -}}

{{/* host:port of a gRPC service inside the cluster: (dict "root" $ "component" "prompt" "port" 50061) */}}
{{- define "imgen.address" -}}
{{- printf "%s.%s.svc:%v" (include "imgen.componentName" .) .root.Release.Namespace .port -}}
{{- end -}}

{{/*
Whether a component's pods are scaled by something other than .replicas.
*/}}
{{- define "imgen.autoscaled" -}}
{{- if eq .component "inference-worker" -}}
{{- if ne .values.autoscaling.mode "none" }}true{{ end -}}
{{- else if .values.autoscaling.enabled -}}true{{- end -}}
{{- end -}}

{{/* secretKeyRef env entry: (dict "name" "IMGEN_X" "secret" "s" "key" "k") */}}
{{- define "imgen.secretEnv" -}}
- name: {{ .name }}
  valueFrom:
    secretKeyRef:
      name: {{ .secret | quote }}
      key: {{ .key | quote }}
{{- end -}}

{{/*
Environment every imgen container gets: where it listens, where the others are, the
YAML config file, the data dir, JSON logs. `section` is the settings section of the process.
*/}}
{{- define "imgen.commonEnv" -}}
{{- $root := .root -}}
{{- $section := upper .section -}}
- name: IMGEN_{{ $section }}_HOST
  value: "0.0.0.0"
- name: IMGEN_{{ $section }}_PORT
  value: {{ .port | quote }}
- name: IMGEN_{{ $section }}_METRICS_PORT
  value: {{ ternary 0 $root.Values.metricsPort (eq .section "gateway") | quote }}
- name: IMGEN_CONFIG
  value: /etc/imgen/config/config.yaml
- name: IMGEN_DATA_DIR
  value: {{ $root.Values.dataDir | quote }}
- name: IMGEN_LOG_FORMAT
  value: json
- name: IMGEN_LOG_LEVEL
  value: {{ $root.Values.logLevel | quote }}
- name: IMGEN_PROMPT_ADDR
  value: {{ include "imgen.address" (dict "root" $root "component" "prompt" "port" $root.Values.prompt.port) | quote }}
- name: IMGEN_INFERENCE_ADDR
  value: {{ include "imgen.address" (dict "root" $root "component" "inference" "port" $root.Values.inference.port) | quote }}
- name: IMGEN_COMPLIANCE_ADDR
  value: {{ include "imgen.address" (dict "root" $root "component" "compliance" "port" $root.Values.compliance.port) | quote }}
- name: IMGEN_PROVENANCE_ADDR
  value: {{ include "imgen.address" (dict "root" $root "component" "provenance" "port" $root.Values.provenance.port) | quote }}
- name: IMGEN_STORAGE_ADDR
  value: {{ include "imgen.address" (dict "root" $root "component" "storage" "port" $root.Values.storage.port) | quote }}
{{- end -}}

{{/* The database URL from its Secret, for a settings section that has database_url. */}}
{{- define "imgen.databaseEnv" -}}
{{- $db := .root.Values.secrets.database -}}
{{- if $db.existingSecret }}
{{ include "imgen.secretEnv" (dict "name" (printf "IMGEN_%s_DATABASE_URL" (upper .section)) "secret" $db.existingSecret "key" $db.key) }}
{{- end -}}
{{- end -}}

{{/* The jobs table the KEDA query counts. */}}
{{- define "imgen.jobsTable" -}}
{{- printf "%sjobs" .Values.inference.tablePrefix -}}
{{- end -}}

{{/* gRPC probes with the timings of one component: (dict "port" 50061 "startupFailures" 30) */}}
{{- define "imgen.grpcProbes" -}}
startupProbe:
  grpc:
    port: {{ .port }}
  periodSeconds: 10
  timeoutSeconds: 5
  failureThreshold: {{ .startupFailures }}
readinessProbe:
  grpc:
    port: {{ .port }}
  periodSeconds: 10
  timeoutSeconds: 5
  failureThreshold: 3
livenessProbe:
  grpc:
    port: {{ .port }}
  periodSeconds: 20
  timeoutSeconds: 5
  failureThreshold: 6
{{- end -}}
