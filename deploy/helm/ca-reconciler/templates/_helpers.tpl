{{/* Name of the chart. */}}
{{- define "ca-reconciler.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name of the release's objects. */}}
{{- define "ca-reconciler.fullname" -}}
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

{{/* Labels on every object. */}}
{{- define "ca-reconciler.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ include "ca-reconciler.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: ca-reconciler
{{- end }}

{{/* Selector labels of the daemon. */}}
{{- define "ca-reconciler.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ca-reconciler.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: daemon
{{- end }}

{{/* Selector labels of the emulator. */}}
{{- define "ca-reconciler.emulatorSelectorLabels" -}}
app.kubernetes.io/name: {{ include "ca-reconciler.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: emulator
{{- end }}

{{- define "ca-reconciler.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "ca-reconciler.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "ca-reconciler.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* Paths where credentials are mounted in the daemon's container. */}}
{{- define "ca-reconciler.oidcTokenDir" -}}/var/run/chainguard/oidc{{- end }}
{{- define "ca-reconciler.tokenDir" -}}/var/run/secrets/chainguard/token{{- end }}
{{- define "ca-reconciler.gitHTTPSDir" -}}/var/run/secrets/ca-reconciler/git-https{{- end }}
{{- define "ca-reconciler.gitSSHDir" -}}/var/run/secrets/ca-reconciler/git-ssh{{- end }}
{{- define "ca-reconciler.webhookDir" -}}/var/run/secrets/ca-reconciler/webhook{{- end }}
{{- define "ca-reconciler.commitStatusDir" -}}/var/run/secrets/ca-reconciler/commit-status{{- end }}
{{- define "ca-reconciler.notifyDir" -}}/var/run/secrets/ca-reconciler/notify{{- end }}
{{- define "ca-reconciler.keyringDir" -}}/etc/ca-reconciler/keyring{{- end }}

{{/* Name of the ConfigMap holding the commit-signing keyring. */}}
{{- define "ca-reconciler.keyringConfigMap" -}}
{{- if .Values.git.verifyCommits.existingConfigMap }}
{{- .Values.git.verifyCommits.existingConfigMap }}
{{- else if .Values.git.verifyCommits.keyring }}
{{- printf "%s-keyring" (include "ca-reconciler.fullname" .) }}
{{- end }}
{{- end }}

{{/* Fails on combinations that cannot work. */}}
{{- define "ca-reconciler.validate" -}}
{{- if and .Values.auth.workloadIdentity.enabled .Values.auth.token.existingSecret }}
{{- fail "auth: choose one of auth.workloadIdentity.enabled and auth.token.existingSecret" }}
{{- end }}
{{- if and .Values.auth.workloadIdentity.enabled (not .Values.auth.workloadIdentity.identity) }}
{{- fail "auth.workloadIdentity.identity is required when auth.workloadIdentity.enabled (the Chainguard identity id)" }}
{{- end }}
{{- if and .Values.emulator.enabled (or .Values.auth.workloadIdentity.enabled .Values.auth.token.existingSecret) }}
{{- fail "emulator.enabled uses a demo token: turn auth.workloadIdentity and auth.token off" }}
{{- end }}
{{- if and .Values.git.verifyCommits.keyring .Values.git.verifyCommits.existingConfigMap }}
{{- fail "git.verifyCommits: choose one of keyring and existingConfigMap" }}
{{- end }}
{{- if and .Values.webhook.port (not (or .Values.webhook.existingSecret .Values.config.chainguardEvents)) }}
{{- fail "webhook.port serves the hooks: set webhook.existingSecret or config.chainguardEvents" }}
{{- end }}
{{- if and .Values.webhook.port (eq (int .Values.webhook.port) (int .Values.containerPort)) }}
{{- fail "webhook.port must differ from containerPort" }}
{{- end }}
{{- if and .Values.webhook.port (eq (int .Values.webhook.port) (int .Values.service.port)) }}
{{- fail "webhook.port must differ from service.port (the Service publishes both)" }}
{{- end }}
{{- end }}

{{/*
The daemon's environment, CA_RECONCILER_<FLAG> => value: every non-empty
key of .Values.config, then the flags the chart derives from other values.
*/}}
{{- define "ca-reconciler.env" -}}
{{- $env := dict }}
{{- range $k, $v := .Values.config }}
{{- if and (not (kindIs "invalid" $v)) (ne (toString $v) "") }}
{{- $_ := set $env (printf "CA_RECONCILER_%s" ($k | snakecase | upper)) (toString $v) }}
{{- end }}
{{- end }}
{{- $_ := set $env "CA_RECONCILER_LISTEN" (printf ":%d" (int .Values.containerPort)) }}
{{- if .Values.webhook.port }}
{{- $_ := set $env "CA_RECONCILER_WEBHOOK_LISTEN" (printf ":%d" (int .Values.webhook.port)) }}
{{- end }}
{{- if .Values.cronJob.enabled }}
{{- $_ := set $env "CA_RECONCILER_ONCE" "true" }}
{{- end }}
{{- if .Values.emulator.enabled }}
{{- $_ := set $env "CA_RECONCILER_API" (printf "http://%s-emulator:8080" (include "ca-reconciler.fullname" .)) }}
{{- $_ := set $env "CA_RECONCILER_INSECURE" "true" }}
{{- end }}
{{- with .Values.auth.workloadIdentity }}
{{- if .enabled }}
{{- $_ := set $env "CA_RECONCILER_IDENTITY" .identity }}
{{- $_ := set $env "CA_RECONCILER_OIDC_TOKEN_FILE" (printf "%s/token" (include "ca-reconciler.oidcTokenDir" $)) }}
{{- end }}
{{- end }}
{{- if .Values.auth.token.existingSecret }}
{{- $_ := set $env "CA_RECONCILER_TOKEN_FILE" (printf "%s/%s" (include "ca-reconciler.tokenDir" .) .Values.auth.token.key) }}
{{- end }}
{{- if .Values.git.https.existingSecret }}
{{- $_ := set $env "CA_RECONCILER_GIT_PASSWORD_FILE" (printf "%s/%s" (include "ca-reconciler.gitHTTPSDir" .) .Values.git.https.passwordKey) }}
{{- end }}
{{- with .Values.git.ssh }}
{{- if .existingSecret }}
{{- $_ := set $env "CA_RECONCILER_GIT_SSH_KEY_FILE" (printf "%s/%s" (include "ca-reconciler.gitSSHDir" $) .privateKeyKey) }}
{{- if .passphraseKey }}
{{- $_ := set $env "CA_RECONCILER_GIT_SSH_KEY_PASSPHRASE_FILE" (printf "%s/%s" (include "ca-reconciler.gitSSHDir" $) .passphraseKey) }}
{{- end }}
{{- if .knownHostsKey }}
{{- $_ := set $env "CA_RECONCILER_GIT_KNOWN_HOSTS_FILE" (printf "%s/%s" (include "ca-reconciler.gitSSHDir" $) .knownHostsKey) }}
{{- end }}
{{- end }}
{{- end }}
{{- if include "ca-reconciler.keyringConfigMap" . }}
{{- $_ := set $env "CA_RECONCILER_VERIFY_COMMITS_KEYRING" (printf "%s/%s" (include "ca-reconciler.keyringDir" .) .Values.git.verifyCommits.key) }}
{{- end }}
{{- if .Values.webhook.existingSecret }}
{{- $_ := set $env "CA_RECONCILER_WEBHOOK_SECRET_FILE" (printf "%s/%s" (include "ca-reconciler.webhookDir" .) .Values.webhook.key) }}
{{- end }}
{{- if .Values.commitStatus.existingSecret }}
{{- $_ := set $env "CA_RECONCILER_COMMIT_STATUS_TOKEN_FILE" (printf "%s/%s" (include "ca-reconciler.commitStatusDir" .) .Values.commitStatus.key) }}
{{- end }}
{{- if .Values.notify.existingSecret }}
{{- $_ := set $env "CA_RECONCILER_NOTIFY_URL_FILE" (printf "%s/%s" (include "ca-reconciler.notifyDir" .) .Values.notify.key) }}
{{- end }}
{{- toYaml $env }}
{{- end }}

{{/*
The daemon's pod spec, shared by the Deployment and the CronJob.
Called with (dict "root" $ "daemon" true|false).
*/}}
{{- define "ca-reconciler.podSpec" -}}
{{- $root := .root }}
{{- with $root }}
serviceAccountName: {{ include "ca-reconciler.serviceAccountName" . }}
automountServiceAccountToken: false
enableServiceLinks: false
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- if not $.daemon }}
restartPolicy: Never
{{- end }}
terminationGracePeriodSeconds: 30
securityContext:
  runAsNonRoot: true
  runAsUser: 65532
  runAsGroup: 65532
  fsGroup: 65532
  seccompProfile:
    type: RuntimeDefault
containers:
  - name: ca-reconciler
    image: {{ include "ca-reconciler.image" . | quote }}
    imagePullPolicy: {{ .Values.image.pullPolicy }}
    args: ["run"]
    envFrom:
      - configMapRef:
          name: {{ include "ca-reconciler.fullname" . }}-config
      {{- with .Values.extraEnvFrom }}
      {{- toYaml . | nindent 6 }}
      {{- end }}
    env:
      {{- if .Values.git.https.existingSecret }}
      - name: CA_RECONCILER_GIT_USERNAME
        valueFrom:
          secretKeyRef:
            name: {{ .Values.git.https.existingSecret }}
            key: {{ .Values.git.https.usernameKey }}
      {{- end }}
      {{- if .Values.emulator.enabled }}
      - name: CA_RECONCILER_TOKEN
        valueFrom:
          secretKeyRef:
            name: {{ include "ca-reconciler.fullname" . }}-emulator-token
            key: token
      {{- end }}
      {{- with .Values.extraEnv }}
      {{- toYaml . | nindent 6 }}
      {{- end }}
    {{- if $.daemon }}
    ports:
      - name: http
        containerPort: {{ .Values.containerPort }}
        protocol: TCP
      {{- if .Values.webhook.port }}
      - name: hooks
        containerPort: {{ .Values.webhook.port }}
        protocol: TCP
      {{- end }}
    livenessProbe:
      httpGet:
        path: /healthz
        port: http
      {{- toYaml .Values.livenessProbe | nindent 6 }}
    readinessProbe:
      httpGet:
        path: /readyz
        port: http
      {{- toYaml .Values.readinessProbe | nindent 6 }}
    {{- end }}
    {{- with .Values.resources }}
    resources:
      {{- toYaml . | nindent 6 }}
    {{- end }}
    securityContext:
      runAsNonRoot: true
      runAsUser: 65532
      runAsGroup: 65532
      readOnlyRootFilesystem: true
      allowPrivilegeEscalation: false
      capabilities:
        drop: ["ALL"]
      seccompProfile:
        type: RuntimeDefault
    volumeMounts:
      - name: cache
        mountPath: {{ .Values.config.cacheDir | default "/var/cache/ca-reconciler" }}
      - name: tmp
        mountPath: /tmp
      {{- if .Values.auth.workloadIdentity.enabled }}
      - name: oidc-token
        mountPath: {{ include "ca-reconciler.oidcTokenDir" . }}
        readOnly: true
      {{- end }}
      {{- if .Values.auth.token.existingSecret }}
      - name: chainguard-token
        mountPath: {{ include "ca-reconciler.tokenDir" . }}
        readOnly: true
      {{- end }}
      {{- if .Values.git.https.existingSecret }}
      - name: git-https
        mountPath: {{ include "ca-reconciler.gitHTTPSDir" . }}
        readOnly: true
      {{- end }}
      {{- if .Values.git.ssh.existingSecret }}
      - name: git-ssh
        mountPath: {{ include "ca-reconciler.gitSSHDir" . }}
        readOnly: true
      {{- end }}
      {{- if include "ca-reconciler.keyringConfigMap" . }}
      - name: keyring
        mountPath: {{ include "ca-reconciler.keyringDir" . }}
        readOnly: true
      {{- end }}
      {{- if .Values.webhook.existingSecret }}
      - name: webhook
        mountPath: {{ include "ca-reconciler.webhookDir" . }}
        readOnly: true
      {{- end }}
      {{- if .Values.commitStatus.existingSecret }}
      - name: commit-status
        mountPath: {{ include "ca-reconciler.commitStatusDir" . }}
        readOnly: true
      {{- end }}
      {{- if .Values.notify.existingSecret }}
      - name: notify
        mountPath: {{ include "ca-reconciler.notifyDir" . }}
        readOnly: true
      {{- end }}
      {{- with .Values.extraVolumeMounts }}
      {{- toYaml . | nindent 6 }}
      {{- end }}
volumes:
  - name: cache
    emptyDir:
      {{- with .Values.cache.medium }}
      medium: {{ . }}
      {{- end }}
      {{- with .Values.cache.sizeLimit }}
      sizeLimit: {{ . }}
      {{- end }}
  - name: tmp
    emptyDir:
      sizeLimit: 64Mi
  {{- with .Values.auth.workloadIdentity }}
  {{- if .enabled }}
  - name: oidc-token
    projected:
      sources:
        - serviceAccountToken:
            audience: {{ .audience }}
            expirationSeconds: {{ .expirationSeconds }}
            path: token
  {{- end }}
  {{- end }}
  {{- if .Values.auth.token.existingSecret }}
  - name: chainguard-token
    secret:
      secretName: {{ .Values.auth.token.existingSecret }}
      defaultMode: 0440
      items:
        - key: {{ .Values.auth.token.key }}
          path: {{ .Values.auth.token.key }}
  {{- end }}
  {{- if .Values.git.https.existingSecret }}
  - name: git-https
    secret:
      secretName: {{ .Values.git.https.existingSecret }}
      defaultMode: 0440
      items:
        - key: {{ .Values.git.https.passwordKey }}
          path: {{ .Values.git.https.passwordKey }}
  {{- end }}
  {{- with .Values.git.ssh }}
  {{- if .existingSecret }}
  - name: git-ssh
    secret:
      secretName: {{ .existingSecret }}
      defaultMode: 0440
      items:
        - key: {{ .privateKeyKey }}
          path: {{ .privateKeyKey }}
        {{- with .passphraseKey }}
        - key: {{ . }}
          path: {{ . }}
        {{- end }}
        {{- with .knownHostsKey }}
        - key: {{ . }}
          path: {{ . }}
        {{- end }}
  {{- end }}
  {{- end }}
  {{- with include "ca-reconciler.keyringConfigMap" . }}
  - name: keyring
    configMap:
      name: {{ . }}
      items:
        - key: {{ $root.Values.git.verifyCommits.key }}
          path: {{ $root.Values.git.verifyCommits.key }}
  {{- end }}
  {{- if .Values.webhook.existingSecret }}
  - name: webhook
    secret:
      secretName: {{ .Values.webhook.existingSecret }}
      defaultMode: 0440
      items:
        - key: {{ .Values.webhook.key }}
          path: {{ .Values.webhook.key }}
  {{- end }}
  {{- if .Values.commitStatus.existingSecret }}
  - name: commit-status
    secret:
      secretName: {{ .Values.commitStatus.existingSecret }}
      defaultMode: 0440
      items:
        - key: {{ .Values.commitStatus.key }}
          path: {{ .Values.commitStatus.key }}
  {{- end }}
  {{- if .Values.notify.existingSecret }}
  - name: notify
    secret:
      secretName: {{ .Values.notify.existingSecret }}
      defaultMode: 0440
      items:
        - key: {{ .Values.notify.key }}
          path: {{ .Values.notify.key }}
  {{- end }}
  {{- with .Values.extraVolumes }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.topologySpreadConstraints }}
topologySpreadConstraints:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}
{{- end }}
