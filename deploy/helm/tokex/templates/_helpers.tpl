{{/* Chart name, truncated to the 63 characters of a DNS label. */}}
{{- define "tokex.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Fully qualified app name: the release name, plus the chart name unless the
release name already contains it. Truncated so suffixes ("-policy",
"-metrics") still fit in 63 characters.
*/}}
{{- define "tokex.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 55 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 55 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 55 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "tokex.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels every object carries (add app.kubernetes.io/component per object). */}}
{{- define "tokex.labels" -}}
helm.sh/chart: {{ include "tokex.chart" . }}
{{ include "tokex.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | trunc 63 | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* The labels that select tokex's pods. */}}
{{- define "tokex.selectorLabels" -}}
app.kubernetes.io/name: {{ include "tokex.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "tokex.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}
{{- end }}

{{- define "tokex.policyConfigMap" -}}
{{- printf "%s-policy" (include "tokex.fullname" .) }}
{{- end }}

{{/* The keys Secret: the existing one, or the one this chart creates. */}}
{{- define "tokex.keysSecret" -}}
{{- .Values.keys.existingSecret | default (printf "%s-keys" (include "tokex.fullname" .)) }}
{{- end }}

{{- define "tokex.keysSecretKey" -}}
{{- if .Values.keys.existingSecret }}{{ .Values.keys.existingSecretKey | default "keys.json" }}{{ else }}keys.json{{ end }}
{{- end }}

{{/* "true" when the pods share replay and rate state in Redis. */}}
{{- define "tokex.redis" -}}
{{- if or .Values.redis.url .Values.redis.urlSecret.name }}true{{ end }}
{{- end }}

{{/* The container port the probes use: the admin listener when metrics are on. */}}
{{- define "tokex.probePort" -}}
{{- if .Values.metrics.enabled }}admin{{ else }}http{{ end }}
{{- end }}

{{/*
tokex.validate refuses values that would deploy a tokex that cannot work.
It renders nothing; the Deployment includes it.
*/}}
{{- define "tokex.validate" -}}
{{- if not (kindIs "string" .Values.policy) }}
{{- fail "policy must be the policy file as a YAML string (policy: |)" }}
{{- end }}
{{- if not (trim .Values.policy) }}
{{- fail "policy is empty: set it to your exchange policy (SPEC section 3)" }}
{{- end }}
{{- $k := .Values.keys }}
{{- if and $k.existingSecret $k.json }}
{{- fail "keys: set either keys.existingSecret or keys.json, not both" }}
{{- end }}
{{- if not (or $k.existingSecret $k.json) }}
{{- fail "keys: tokex needs its signing keys. Either create a Secret and set keys.existingSecret=<name>, or run `tokex keys generate > keys.json` and pass --set-file keys.json=keys.json (see the chart's README)" }}
{{- end }}
{{- if $k.json }}
{{- $set := fromJson $k.json }}
{{- if or (hasKey $set "Error") (not (kindIs "slice" $set.keys)) (empty $set.keys) }}
{{- fail "keys.json is not a JWK Set: want {\"keys\": [...]} as `tokex keys generate` prints it" }}
{{- end }}
{{- range $i, $key := $set.keys }}
{{- if not (and (kindIs "map" $key) (hasKey $key "d")) }}
{{- fail (printf "keys.json: keys[%d] has no private part (\"d\"): tokex needs the private JWKS from `tokex keys generate`, not the public one" $i) }}
{{- end }}
{{- end }}
{{- end }}
{{- $r := .Values.redis }}
{{- if and $r.url $r.urlSecret.name }}
{{- fail "redis: set either redis.url or redis.urlSecret, not both" }}
{{- end }}
{{- if and $r.url (regexMatch "^rediss?://[^/@]*:[^/@]*@" $r.url) }}
{{- fail "redis.url holds a password: put the password in a Secret and set redis.passwordSecret.name (or the whole URL in redis.urlSecret)" }}
{{- end }}
{{- if and $r.url (not (regexMatch "^rediss?://" $r.url)) }}
{{- fail "redis.url must start with redis:// or rediss:// (TLS)" }}
{{- end }}
{{- if and $r.passwordSecret.name (not (include "tokex.redis" .)) }}
{{- fail "redis.passwordSecret needs redis.url or redis.urlSecret" }}
{{- end }}
{{- if and .Values.serviceMonitor.enabled (not .Values.metrics.enabled) }}
{{- fail "serviceMonitor.enabled needs metrics.enabled (and a tokex version with the admin listener)" }}
{{- end }}
{{- $replicas := int .Values.replicaCount }}
{{- if .Values.autoscaling.enabled }}
{{- $replicas = int .Values.autoscaling.minReplicas }}
{{- if lt (int .Values.autoscaling.maxReplicas) $replicas }}
{{- fail (printf "autoscaling.maxReplicas (%d) is below autoscaling.minReplicas (%d)" (int .Values.autoscaling.maxReplicas) $replicas) }}
{{- end }}
{{- end }}
{{- if and .Values.pdb.enabled (not (kindIs "string" .Values.pdb.minAvailable)) }}
{{- if ge (int .Values.pdb.minAvailable) $replicas }}
{{- fail (printf "pdb.minAvailable (%d) must be below the replica count (%d), or no pod can ever be evicted and node drains hang; lower it or disable the pdb" (int .Values.pdb.minAvailable) $replicas) }}
{{- end }}
{{- end }}
{{- end }}
