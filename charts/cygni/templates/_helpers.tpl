{{/*
Chart name, overridable with nameOverride.
*/}}
{{- define "cygni.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name of the release's resources (63 characters at most, a DNS label). The release name is
used alone when it already contains the chart name.
*/}}
{{- define "cygni.fullname" -}}
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
Chart name and version, for the helm.sh/chart label.
*/}}
{{- define "cygni.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels that select the operator pods. Never change them: a Deployment's selector is immutable.
*/}}
{{- define "cygni.selectorLabels" -}}
app.kubernetes.io/name: {{ include "cygni.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Standard labels on every resource of the release.
*/}}
{{- define "cygni.labels" -}}
helm.sh/chart: {{ include "cygni.chart" . }}
{{ include "cygni.selectorLabels" . }}
app.kubernetes.io/version: {{ (default .Chart.AppVersion .Values.image.tag) | trunc 63 | quote }}
app.kubernetes.io/component: operator
app.kubernetes.io/part-of: cygni
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/*
The ServiceAccount the operator runs as.
*/}}
{{- define "cygni.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "cygni.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The operator image reference: repository@digest when a digest is set, else repository:tag with
the tag defaulting to the chart's appVersion.
*/}}
{{- define "cygni.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/*
Name of the leader-election Lease: by default the operator's own default, so that `cygni run`
started by hand against the cluster competes for the same Lease instead of acting beside it.
*/}}
{{- define "cygni.leaseName" -}}
{{- default "cygni-operator" .Values.leaderElection.leaseName }}
{{- end }}

{{/*
Rules the operator needs wherever it watches App, Deployment and Domain objects: in a
ClusterRole when it watches all namespaces, in one Role per namespace otherwise. Exactly the
verbs the controllers use:
- read and watch all three kinds, patch them (finalizers, annotations);
- create and prune Deployments (the App controller owns them);
- read and patch the status subresources;
- update the finalizers subresources, which the API server checks for ownerReferences with blockOwnerDeletion;
- emit Events (events.k8s.io/v1), listing an object's Events first so a restarted operator
  finds those it already published;
- get Secrets by name: webhook analysis headers may read their value from a Secret in the
  Deployment's namespace (never listed or watched).
Keep the flow style ([...]): tests/chart.rs reads these lines as JSON arrays.
*/}}
{{- define "cygni.watchRules" -}}
- apiGroups: ["cygni.io"]
  resources: ["apps", "domains"]
  verbs: ["get", "list", "watch", "patch"]
- apiGroups: ["cygni.io"]
  resources: ["deployments"]
  verbs: ["get", "list", "watch", "patch", "create", "delete"]
- apiGroups: ["cygni.io"]
  resources: ["apps/status", "deployments/status", "domains/status"]
  verbs: ["get", "patch"]
- apiGroups: ["cygni.io"]
  resources: ["apps/finalizers", "deployments/finalizers", "domains/finalizers"]
  verbs: ["update"]
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["list", "create", "patch"]
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get"]
{{- end }}
