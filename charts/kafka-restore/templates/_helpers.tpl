{{/* Names, labels and the pieces every workload shares. */}}

{{- define "kafka-restore.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "kafka-restore.fullname" -}}
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

{{/* "<fullname>-<component>", for one component's resources. Call with (list $ "component"). */}}
{{- define "kafka-restore.componentName" -}}
{{- $root := index . 0 -}}
{{- printf "%s-%s" (include "kafka-restore.fullname" $root | trunc 45 | trimSuffix "-") (index . 1) -}}
{{- end -}}

{{- define "kafka-restore.selectorLabels" -}}
app.kubernetes.io/name: {{ include "kafka-restore.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "kafka-restore.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "kafka-restore.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: kafka-restore
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Selector labels of one component. Call with (list $ "component"). */}}
{{- define "kafka-restore.componentSelectorLabels" -}}
{{ include "kafka-restore.selectorLabels" (index . 0) }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end -}}

{{/* All labels of one component's resources. Call with (list $ "component"). */}}
{{- define "kafka-restore.componentLabels" -}}
{{ include "kafka-restore.labels" (index . 0) }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end -}}

{{- define "kafka-restore.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{- define "kafka-restore.controllerServiceAccount" -}}
{{- default (include "kafka-restore.componentName" (list . "controller")) .Values.controller.serviceAccount.name -}}
{{- end -}}

{{- define "kafka-restore.workerServiceAccount" -}}
{{- default (include "kafka-restore.componentName" (list . "worker")) .Values.workers.serviceAccount.name -}}
{{- end -}}

{{- define "kafka-restore.leaseName" -}}
{{- default (include "kafka-restore.componentName" (list . "controller")) .Values.controller.leaderElection.leaseName -}}
{{- end -}}

{{/* Pod-level security shared by every pod. */}}
{{- define "kafka-restore.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.podSecurity.runAsUser }}
runAsGroup: {{ .Values.podSecurity.runAsGroup }}
fsGroup: {{ .Values.podSecurity.fsGroup }}
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Container-level security shared by every container. */}}
{{- define "kafka-restore.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.podSecurity.runAsUser }}
runAsGroup: {{ .Values.podSecurity.runAsGroup }}
readOnlyRootFilesystem: true
allowPrivilegeEscalation: false
capabilities:
  drop:
    - ALL
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Pod spec fields common to every pod: service account, pull secrets, security, scheduling.
     Call with (dict "root" $ "serviceAccount" NAME-or-"" "automountToken" BOOL
     "scheduling" .Values.<component>); pods without API access get no token at all. */}}
{{- define "kafka-restore.podCommon" -}}
{{- $root := .root -}}
automountServiceAccountToken: {{ .automountToken }}
{{- with .serviceAccount }}
serviceAccountName: {{ . }}
{{- end }}
securityContext:
  {{- include "kafka-restore.podSecurityContext" $root | nindent 2 }}
{{- with $root.Values.imagePullSecrets }}
imagePullSecrets:
  {{- range . }}
  - name: {{ . }}
  {{- end }}
{{- end }}
{{- with .scheduling.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .scheduling.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .scheduling.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* Redis: the Secret and key holding the built-in server's password. */}}
{{- define "kafka-restore.redisPasswordSecret" -}}
{{- default (include "kafka-restore.componentName" (list . "redis")) .Values.redis.auth.existingSecret -}}
{{- end -}}

{{- define "kafka-restore.redisPasswordKey" -}}
{{- if .Values.redis.auth.existingSecret -}}{{ .Values.redis.auth.existingSecretKey }}{{- else -}}redis-password{{- end -}}
{{- end -}}

{{/* External Redis: the Secret and key holding the full URL. */}}
{{- define "kafka-restore.redisUrlSecret" -}}
{{- default (include "kafka-restore.componentName" (list . "redis-url")) .Values.redis.external.existingSecret -}}
{{- end -}}

{{- define "kafka-restore.redisUrlKey" -}}
{{- if .Values.redis.external.existingSecret -}}{{ .Values.redis.external.existingSecretKey }}{{- else -}}url{{- end -}}
{{- end -}}

{{/* Env of every Celery process: broker, result backend, logging. Passwords come from Secrets;
     the built-in Redis URL is assembled by Kubernetes' $(VAR) expansion, never in values. */}}
{{- define "kafka-restore.celeryEnv" -}}
{{- if .Values.redis.enabled -}}
- name: REDIS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "kafka-restore.redisPasswordSecret" . }}
      key: {{ include "kafka-restore.redisPasswordKey" . }}
- name: KAFKA_RESTORE_BROKER_URL
  value: {{ printf "redis://:$(REDIS_PASSWORD)@%s.%s.svc:%d/0" (include "kafka-restore.componentName" (list . "redis")) .Release.Namespace (int .Values.redis.port) | quote }}
{{- else }}
{{- if not (or .Values.redis.external.url .Values.redis.external.existingSecret) }}
{{- fail "redis.enabled is false: set redis.external.url or redis.external.existingSecret" }}
{{- end }}
{{- if and .Values.redis.external.url .Values.redis.external.existingSecret }}
{{- fail "set only one of redis.external.url and redis.external.existingSecret" }}
{{- end -}}
- name: KAFKA_RESTORE_BROKER_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "kafka-restore.redisUrlSecret" . }}
      key: {{ include "kafka-restore.redisUrlKey" . }}
{{- end }}
- name: KAFKA_RESTORE_RESULT_BACKEND
  value: "$(KAFKA_RESTORE_BROKER_URL)"
- name: KAFKA_RESTORE_LOG_LEVEL
  value: {{ .Values.logging.level | quote }}
- name: KAFKA_RESTORE_LOG_FORMAT
  value: {{ .Values.logging.format | quote }}
- name: POD_NAMESPACE
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
{{- end -}}

{{/* The writable scratch space every container gets under a read-only root filesystem. */}}
{{- define "kafka-restore.tmpVolume" -}}
- name: tmp
  emptyDir:
    sizeLimit: 1Gi
{{- end -}}

{{- define "kafka-restore.tmpMount" -}}
- name: tmp
  mountPath: /tmp
{{- end -}}

{{/* "true" when the controller watches every namespace, so RBAC is cluster-wide. */}}
{{- define "kafka-restore.clusterScoped" -}}
{{- if not .Values.controller.watchNamespaces -}}true{{- end -}}
{{- end -}}

{{/* A generated secret value that survives upgrades: the given one, else the one already in the
     cluster, else a new random one. Call with (dict "root" $ "name" SECRET "key" KEY "given" VALUE). */}}
{{- define "kafka-restore.keptSecretValue" -}}
{{- if .given -}}
{{- .given -}}
{{- else -}}
{{- $existing := lookup "v1" "Secret" .root.Release.Namespace .name | default dict -}}
{{- $data := get $existing "data" | default dict -}}
{{- if hasKey $data .key -}}
{{- index $data .key | b64dec -}}
{{- else -}}
{{- randAlphaNum 32 -}}
{{- end -}}
{{- end -}}
{{- end -}}
