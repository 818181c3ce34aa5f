{{/*
Chart name (app.kubernetes.io/name).
*/}}
{{- define "todo-chatbot.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Prefix of every object name. Release "todo-chatbot" gives "todo-chatbot", so the
objects are named exactly like those in manifests/.
*/}}
{{- define "todo-chatbot.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
helm.sh/chart label value.
*/}}
{{- define "todo-chatbot.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Selector labels: name + instance (+ component). Immutable once deployed, so
they never include the version.
Call with (dict "ctx" $ "component" "backend"); component may be "".
*/}}
{{- define "todo-chatbot.selectorLabels" -}}
app.kubernetes.io/name: {{ include "todo-chatbot.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
{{- with .component }}
app.kubernetes.io/component: {{ . }}
{{- end }}
{{- end }}

{{/*
Pod template labels: the selector labels plus part-of and version.
*/}}
{{- define "todo-chatbot.podLabels" -}}
{{ include "todo-chatbot.selectorLabels" . }}
app.kubernetes.io/part-of: {{ include "todo-chatbot.name" .ctx }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
{{- end }}

{{/*
Object labels: the pod labels plus Helm's own (managed-by, helm.sh/chart).
*/}}
{{- define "todo-chatbot.labels" -}}
{{ include "todo-chatbot.podLabels" . }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
helm.sh/chart: {{ include "todo-chatbot.chart" .ctx }}
{{- end }}

{{/*
Name of the Secret the backend reads (AD-5: created beforehand, by default).
*/}}
{{- define "todo-chatbot.secretName" -}}
{{- default (printf "%s-secrets" (include "todo-chatbot.fullname" .)) .Values.secrets.existingSecret }}
{{- end }}

{{- define "todo-chatbot.configName" -}}
{{- printf "%s-config" (include "todo-chatbot.fullname" .) }}
{{- end }}

{{/*
ServiceAccount of a component: its own when serviceAccount.create, else "default"
(the token is not mounted either way).
Call with (dict "ctx" $ "component" "backend").
*/}}
{{- define "todo-chatbot.serviceAccountName" -}}
{{- if .ctx.Values.serviceAccount.create }}
{{- printf "%s-%s" (include "todo-chatbot.fullname" .ctx) .component }}
{{- else -}}
default
{{- end }}
{{- end }}

{{/*
image reference "repository:tag" of a component; an empty tag means appVersion.
Call with (dict "ctx" $ "component" "backend").
*/}}
{{- define "todo-chatbot.image" -}}
{{- $image := index .ctx.Values.image .component }}
{{- printf "%s:%s" $image.repository (default .ctx.Chart.AppVersion $image.tag) }}
{{- end }}

{{/*
Pod-level securityContext (restricted Pod Security Standard).
*/}}
{{- define "todo-chatbot.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.podSecurity.runAsUser }}
runAsGroup: {{ .Values.podSecurity.runAsGroup }}
fsGroup: {{ .Values.podSecurity.fsGroup }}
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/*
Container-level securityContext: repeated per container so each container is
hardened on its own, whatever the pod level says.
*/}}
{{- define "todo-chatbot.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.podSecurity.runAsUser }}
runAsGroup: {{ .Values.podSecurity.runAsGroup }}
allowPrivilegeEscalation: false
privileged: false
readOnlyRootFilesystem: true
capabilities:
  drop:
    - ALL
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/*
Startup, liveness and readiness probes on the named port `http`, with the
paths of fixtures/contracts/openapi.yaml.
*/}}
{{- define "todo-chatbot.probes" -}}
startupProbe:
  httpGet:
    path: /health
    port: http
  periodSeconds: {{ .Values.probes.startup.periodSeconds }}
  failureThreshold: {{ .Values.probes.startup.failureThreshold }}
livenessProbe:
  httpGet:
    path: /health
    port: http
  initialDelaySeconds: {{ .Values.probes.liveness.initialDelaySeconds }}
  periodSeconds: {{ .Values.probes.liveness.periodSeconds }}
  timeoutSeconds: {{ .Values.probes.liveness.timeoutSeconds }}
  failureThreshold: {{ .Values.probes.liveness.failureThreshold }}
readinessProbe:
  httpGet:
    path: /ready
    port: http
  initialDelaySeconds: {{ .Values.probes.readiness.initialDelaySeconds }}
  periodSeconds: {{ .Values.probes.readiness.periodSeconds }}
  timeoutSeconds: {{ .Values.probes.readiness.timeoutSeconds }}
  failureThreshold: {{ .Values.probes.readiness.failureThreshold }}
{{- end }}
