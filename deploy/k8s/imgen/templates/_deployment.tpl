{{/*
One imgen Deployment. Parameters (a dict):
  root             the chart context ($)
  component        object name suffix and app.kubernetes.io/component
  section          settings section (IMGEN_<SECTION>_*) and the `imgen serve` argument
  values           the component's values (replicas, resources, scheduling, extraEnv, ...)
  image            key of .Values.images
  port             the listener port (gRPC, or HTTP for the gateway)
  env              extra env entries (YAML list text) specific to the component
  volumes          extra volumes (YAML list text)
  volumeMounts     extra mounts (YAML list text)
  dataVolume       the data dir volume (YAML mapping text without name); empty means an emptyDir
  startupFailures  startupProbe failureThreshold (x 10 s)
  gpus             nvidia.com/gpu per pod (0: none)
  strategy         the Deployment strategy; empty means a rolling update that adds a pod first
*/}}
{{- define "imgen.deployment" -}}
{{- $root := .root -}}
{{- $v := .values -}}
{{- $ctx := dict "root" $root "component" .component -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "imgen.componentName" $ctx }}
  labels:
    {{- include "imgen.labels" $ctx | nindent 4 }}
spec:
  {{- if not (include "imgen.autoscaled" (dict "component" .component "values" $v)) }}
  replicas: {{ $v.replicas }}
  {{- end }}
  revisionHistoryLimit: 5
  selector:
    matchLabels:
      {{- include "imgen.selectorLabels" $ctx | nindent 6 }}
  strategy:
    {{- if .strategy }}
    {{- toYaml .strategy | nindent 4 }}
    {{- else }}
    type: RollingUpdate
    rollingUpdate:
      maxSurge: 1
      maxUnavailable: 0
    {{- end }}
  template:
    metadata:
      labels:
        {{- include "imgen.selectorLabels" $ctx | nindent 8 }}
        {{- with $root.Values.podLabels }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      annotations:
        # Restart on a config change; the catalog is reloaded live and is not part of it.
        checksum/config: {{ include (print $root.Template.BasePath "/configmap-config.yaml") $root | sha256sum }}
        {{- with $root.Values.podAnnotations }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
    spec:
      serviceAccountName: {{ include "imgen.serviceAccountName" $root }}
      automountServiceAccountToken: false
      {{- with $root.Values.imagePullSecrets }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      securityContext:
        {{- toYaml $root.Values.podSecurityContext | nindent 8 }}
      terminationGracePeriodSeconds: {{ $v.terminationGracePeriodSeconds }}
      {{- with $v.priorityClassName }}
      priorityClassName: {{ . }}
      {{- end }}
      {{- with $v.runtimeClassName }}
      runtimeClassName: {{ . }}
      {{- end }}
      {{- with $v.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $v.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $v.affinity }}
      affinity:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- if or $v.topologySpreadConstraints $root.Values.zoneSpread.enabled }}
      topologySpreadConstraints:
        {{- with $v.topologySpreadConstraints }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
        {{- if $root.Values.zoneSpread.enabled }}
        {{- range $key := list "topology.kubernetes.io/zone" "kubernetes.io/hostname" }}
        - maxSkew: 1
          topologyKey: {{ $key }}
          whenUnsatisfiable: ScheduleAnyway
          labelSelector:
            matchLabels:
              {{- include "imgen.selectorLabels" $ctx | nindent 14 }}
        {{- end }}
        {{- end }}
      {{- end }}
      containers:
        - name: {{ .section }}
          image: {{ include "imgen.image" (dict "root" $root "image" .image) | quote }}
          imagePullPolicy: {{ $root.Values.images.pullPolicy }}
          args: [{{ .section | quote }}]
          ports:
            - name: {{ ternary "http" "grpc" (eq .section "gateway") }}
              containerPort: {{ .port }}
              protocol: TCP
            {{- if ne .section "gateway" }}
            - name: metrics
              containerPort: {{ $root.Values.metricsPort }}
              protocol: TCP
            {{- end }}
          env:
            {{- include "imgen.commonEnv" (dict "root" $root "section" .section "port" .port) | nindent 12 }}
            {{- with .env }}
            {{- . | nindent 12 }}
            {{- end }}
            {{- with $root.Values.extraEnv }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
            {{- with $v.extraEnv }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
          {{- if eq .section "gateway" }}
          startupProbe:
            httpGet: {path: /healthz, port: http}
            periodSeconds: 5
            timeoutSeconds: 3
            failureThreshold: {{ .startupFailures }}
          readinessProbe:
            httpGet: {path: /readyz, port: http}
            periodSeconds: 10
            timeoutSeconds: 5
            failureThreshold: 3
          livenessProbe:
            httpGet: {path: /healthz, port: http}
            periodSeconds: 20
            timeoutSeconds: 5
            failureThreshold: 3
          {{- else }}
          {{- include "imgen.grpcProbes" (dict "port" .port "startupFailures" .startupFailures) | nindent 10 }}
          {{- end }}
          resources:
            {{- $resources := deepCopy $v.resources }}
            {{- if .gpus }}
            {{- $_ := set $resources "requests" (merge (dict "nvidia.com/gpu" .gpus) (default dict $resources.requests)) }}
            {{- $_ := set $resources "limits" (merge (dict "nvidia.com/gpu" .gpus) (default dict $resources.limits)) }}
            {{- end }}
            {{- toYaml $resources | nindent 12 }}
          securityContext:
            {{- toYaml $root.Values.containerSecurityContext | nindent 12 }}
          volumeMounts:
            - name: tmp
              mountPath: /tmp
            - name: data
              mountPath: {{ $root.Values.dataDir }}
            - name: config
              mountPath: /etc/imgen/config
              readOnly: true
            {{- with .volumeMounts }}
            {{- . | nindent 12 }}
            {{- end }}
            {{- with $v.extraVolumeMounts }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
      volumes:
        - name: tmp
          emptyDir:
            sizeLimit: 1Gi
        - name: data
          {{- if .dataVolume }}
          {{- .dataVolume | nindent 10 }}
          {{- else }}
          emptyDir:
            sizeLimit: 10Gi
          {{- end }}
        - name: config
          configMap:
            name: {{ include "imgen.fullname" $root }}-config
        {{- with .volumes }}
        {{- . | nindent 8 }}
        {{- end }}
        {{- with $v.extraVolumes }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
{{- end -}}
