// Texts of the app in English and Chinese. The language follows the
// browser (navigator.language) until the user switches it.

const en = {
  skip: 'Skip to content', tagline: 'clinical assistant', logout: 'Sign out', close: 'Close', cancel: 'Cancel',
  'nav.chat': 'Chat', 'nav.patient': 'Patient', 'nav.triage': 'Triage', 'nav.emr': 'Intake & EMR', 'nav.admin': 'Admin',
  'login.title': 'Sign in',
  'login.help': 'This server needs an API key. Ask your administrator for one (dayi keys add). The key stays in this browser tab only.',
  'login.key': 'API key', 'login.submit': 'Sign in', 'login.bad': 'That key was not accepted.',
  'chat.model': 'Model', 'chat.kb': 'Knowledge base', 'chat.nokb': 'None', 'chat.patient': 'Patient',
  'chat.clearpatient': 'Stop using this patient', 'chat.new': 'New conversation',
  'chat.empty': 'Ask a question. Answers grounded on a knowledge base cite their sources as [1], [2]…',
  'chat.input': 'Message', 'chat.placeholder': 'Type a question (Ctrl+Enter to send)', 'chat.send': 'Send', 'chat.stop': 'Stop',
  'chat.you': 'You', 'chat.dayi': 'dayi', 'chat.stopped': 'Stopped.', 'chat.thinking': 'Generating…', 'chat.sources': 'Sources',
  'chat.nomodel': 'No model is available.',
  'patient.title': 'Patient memory', 'patient.id': 'Patient ID', 'patient.load': 'Show memory',
  'patient.chat': 'Chat about this patient', 'patient.forgetall': 'Forget everything', 'patient.forget': 'Forget',
  'patient.none': 'Nothing is remembered about this patient.', 'patient.facts': 'Facts', 'patient.turns': 'Conversations',
  'patient.confirmone': 'Forget this item for good? It cannot be recovered.',
  'patient.confirmall': 'Forget everything remembered about patient {id}? It cannot be recovered.',
  'patient.clinician': 'Clinician', 'patient.assistant': 'Assistant', 'patient.summary': 'Summary',
  'col.date': 'Date', 'col.kind': 'Kind', 'col.subject': 'About', 'col.text': 'Said', 'col.actions': 'Actions',
  'col.model': 'Model', 'col.size': 'Memory', 'col.until': 'Unloads at', 'col.name': 'Name', 'col.files': 'Files',
  'col.chunks': 'Passages', 'col.disk': 'On disk', 'col.action': 'Action',
  'kind.allergy': 'Allergy', 'kind.diagnosis': 'Diagnosis', 'kind.medication': 'Medication', 'kind.result': 'Result',
  'triage.title': 'Triage', 'triage.complaint': "Chief complaint, in the patient's words", 'triage.submit': 'Triage',
  'triage.emergency': 'EMERGENCY', 'triage.urgency': 'Urgency', 'triage.department': 'Department', 'triage.flags': 'Red flags',
  'triage.advice': 'Advice', 'triage.questions': 'Ask next', 'triage.noflags': 'None',
  'urgency.emergency': 'Emergency', 'urgency.urgent': 'Urgent', 'urgency.routine': 'Routine',
  'emr.title': 'Intake and EMR note', 'emr.transcript': 'Consultation transcript', 'emr.submit': 'Write the note',
  'emr.working': 'Writing the note…',
  'emr.draft': 'Draft for a clinician.', 'emr.drafthelp': 'Check, correct and sign it: dayi supports clinicians, it does not replace them.',
  'emr.copytext': 'Copy as text', 'emr.copyjson': 'Copy as JSON', 'emr.copied': 'Copied.', 'emr.flags': 'Red flags in the transcript:',
  'soap.subjective': 'Subjective', 'soap.objective': 'Objective', 'soap.assessment': 'Assessment', 'soap.plan': 'Plan',
  'f.chief_complaint': 'Chief complaint', 'f.history_of_present_illness': 'History of present illness',
  'f.medications': 'Medications (one per line)', 'f.allergies': 'Allergies (one per line)', 'f.past_history': 'Past history',
  'f.vital_signs': 'Vital signs', 'f.examination': 'Examination', 'f.investigations': 'Investigations',
  'f.diagnoses': 'Diagnoses (one per line: name — certainty)', 'f.reasoning': 'Reasoning', 'f.treatment': 'Treatment',
  'f.tests_ordered': 'Tests ordered (one per line)', 'f.follow_up': 'Follow-up', 'f.patient_education': 'Patient education',
  'intake.title': "Guided intake: the patient's answers before the visit", 'intake.next': 'Next', 'intake.restart': 'Start again',
  'intake.done': 'Intake complete.', 'intake.use': 'Use as the transcript', 'intake.q': 'Q', 'intake.a': 'A',
  'fu.title': 'Follow-up plan', 'fu.start': 'Visit date', 'fu.med': 'On medication', 'fu.submit': 'Make the plan',
  'fu.return': 'Return at once if: ',
  'admin.title': 'Administration', 'admin.models': 'Loaded models', 'admin.nomodels': 'No model is loaded.',
  'admin.kbs': 'Knowledge bases', 'admin.kbname': 'Knowledge base', 'admin.file': 'Document (.md, .txt, .html, .jsonl)',
  'admin.upload': 'Add', 'admin.uploading': 'Adding {file} to {kb} ({n} of {total})…',
  'admin.ingested': '{n} of {total} files added to {kb}.',
  'admin.uploaded': '{file}: {chunks} passages indexed in {kb}.', 'admin.skipped': '{file} was not indexed: {why}',
  'admin.audit': 'Audit log', 'audit.ok': 'Intact: {n} records, hash chain verified.',
  'audit.broken': 'BROKEN at line {line} (record {seq}): {reason}. Records after it cannot be trusted.',
  'audit.none': 'No audit log is configured (dayi serve --audit FILE).', 'admin.audithelp': 'Verify the hash chain on the server with: dayi audit verify FILE',
  'err.scope': 'Your API key lacks the "{scope}" scope, which this needs. Ask your administrator for a key with it.',
  'err.network': 'The server could not be reached.',
  'err.scopenokey': 'This needs an API key with the "{scope}" scope: sign in with one.',
  disclaimer: 'dayi supports clinicians; it does not replace them. Every answer is a draft for a clinician to check.',
};

const zh = {
  skip: '跳到内容', tagline: '临床助手', logout: '退出', close: '关闭', cancel: '取消',
  'nav.chat': '问答', 'nav.patient': '患者', 'nav.triage': '导诊', 'nav.emr': '预问诊与病历', 'nav.admin': '管理',
  'login.title': '登录', 'login.help': '此服务器需要 API 密钥。请向管理员申请（dayi keys add）。密钥只保存在当前浏览器标签页中。',
  'login.key': 'API 密钥', 'login.submit': '登录', 'login.bad': '密钥无效。',
  'chat.model': '模型', 'chat.kb': '知识库', 'chat.nokb': '不使用', 'chat.patient': '患者',
  'chat.clearpatient': '不再使用此患者', 'chat.new': '新对话',
  'chat.empty': '请输入问题。基于知识库的回答会以 [1]、[2]… 标注出处。',
  'chat.input': '消息', 'chat.placeholder': '输入问题（Ctrl+Enter 发送）', 'chat.send': '发送', 'chat.stop': '停止',
  'chat.you': '您', 'chat.dayi': '大医', 'chat.stopped': '已停止。', 'chat.thinking': '生成中…', 'chat.sources': '出处',
  'chat.nomodel': '没有可用的模型。',
  'patient.title': '患者记忆', 'patient.id': '患者 ID', 'patient.load': '查看记忆',
  'patient.chat': '就此患者提问', 'patient.forgetall': '全部删除', 'patient.forget': '删除',
  'patient.none': '没有关于此患者的记忆。', 'patient.facts': '要点', 'patient.turns': '对话记录',
  'patient.confirmone': '永久删除此条？删除后无法恢复。',
  'patient.confirmall': '永久删除患者 {id} 的全部记忆？删除后无法恢复。',
  'patient.clinician': '医生', 'patient.assistant': '助手', 'patient.summary': '摘要',
  'col.date': '日期', 'col.kind': '类别', 'col.subject': '对象', 'col.text': '原话', 'col.actions': '操作',
  'col.model': '模型', 'col.size': '内存', 'col.until': '卸载时间', 'col.name': '名称', 'col.files': '文件',
  'col.chunks': '段落', 'col.disk': '磁盘占用', 'col.action': '事项',
  'kind.allergy': '过敏', 'kind.diagnosis': '诊断', 'kind.medication': '用药', 'kind.result': '检查结果',
  'triage.title': '智能导诊', 'triage.complaint': '主诉（患者原话）', 'triage.submit': '导诊',
  'triage.emergency': '急诊', 'triage.urgency': '紧急程度', 'triage.department': '科室', 'triage.flags': '危险信号',
  'triage.advice': '建议', 'triage.questions': '追问', 'triage.noflags': '无',
  'urgency.emergency': '急诊', 'urgency.urgent': '尽快就诊', 'urgency.routine': '常规',
  'emr.title': '预问诊与病历', 'emr.transcript': '问诊记录', 'emr.submit': '生成病历', 'emr.working': '正在生成病历…',
  'emr.draft': '草稿，须由医生审核。', 'emr.drafthelp': '请核对、修改并签名：大医辅助医生，不能代替医生。',
  'emr.copytext': '复制为文本', 'emr.copyjson': '复制为 JSON', 'emr.copied': '已复制。', 'emr.flags': '问诊记录中的危险信号：',
  'soap.subjective': '主观资料 S', 'soap.objective': '客观资料 O', 'soap.assessment': '评估 A', 'soap.plan': '计划 P',
  'f.chief_complaint': '主诉', 'f.history_of_present_illness': '现病史', 'f.medications': '用药（每行一项）',
  'f.allergies': '过敏史（每行一项）', 'f.past_history': '既往史', 'f.vital_signs': '生命体征', 'f.examination': '体格检查',
  'f.investigations': '辅助检查', 'f.diagnoses': '诊断（每行：名称 — 确定程度）', 'f.reasoning': '诊断依据', 'f.treatment': '治疗',
  'f.tests_ordered': '检查申请（每行一项）', 'f.follow_up': '随访', 'f.patient_education': '健康教育',
  'intake.title': '预问诊：患者就诊前的回答', 'intake.next': '下一步', 'intake.restart': '重新开始',
  'intake.done': '预问诊完成。', 'intake.use': '作为问诊记录', 'intake.q': '问', 'intake.a': '答',
  'fu.title': '随访计划', 'fu.start': '就诊日期', 'fu.med': '正在服药', 'fu.submit': '生成计划', 'fu.return': '出现以下情况请立即就诊：',
  'admin.title': '系统管理', 'admin.models': '已加载的模型', 'admin.nomodels': '没有已加载的模型。',
  'admin.kbs': '知识库', 'admin.kbname': '知识库', 'admin.file': '文档（.md、.txt、.html、.jsonl）',
  'admin.upload': '添加', 'admin.uploading': '正在把 {file} 加入 {kb}（第 {n} 个，共 {total} 个）…',
  'admin.ingested': '已向 {kb} 添加 {n} 个文件，共 {total} 个。',
  'admin.uploaded': '{file}：已在 {kb} 中索引 {chunks} 个段落。', 'admin.skipped': '{file} 未被索引：{why}',
  'admin.audit': '审计日志', 'audit.ok': '完整：{n} 条记录，哈希链校验通过。',
  'audit.broken': '在第 {line} 行（记录 {seq}）断裂：{reason}。其后的记录不可信。',
  'audit.none': '未配置审计日志（dayi serve --audit FILE）。', 'admin.audithelp': '在服务器上校验哈希链：dayi audit verify FILE',
  'err.scope': '您的 API 密钥缺少此操作所需的“{scope}”权限。请向管理员申请。',
  'err.network': '无法连接服务器。',
  'err.scopenokey': '此操作需要具有“{scope}”权限的 API 密钥，请用该密钥登录。',
  disclaimer: '大医辅助医生，不能代替医生。所有回答都是草稿，须由医生核对。',
};

const dicts = { en, zh };

/** pick returns "zh" or "en" for a BCP 47 tag. */
export function pick(tag) {
  return String(tag || '').toLowerCase().startsWith('zh') ? 'zh' : 'en';
}

let lang = pick(localStorage.getItem('dayi.lang') || navigator.language);

export function current() { return lang; }

export function setLang(l) {
  lang = pick(l);
  localStorage.setItem('dayi.lang', lang);
}

/** t looks a text up and fills {name} placeholders from vars. */
export function t(key, vars) {
  let s = dicts[lang][key] ?? en[key] ?? key;
  if (vars) {
    s = s.replace(/\{(\w+)\}/g, (m, k) => (k in vars ? String(vars[k]) : m));
  }
  return s;
}

/** apply writes every data-i18n* attribute's text under root. */
export function apply(root = document) {
  document.documentElement.lang = lang === 'zh' ? 'zh-CN' : 'en';
  for (const el of root.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll('[data-i18n-placeholder]')) el.placeholder = t(el.dataset.i18nPlaceholder);
  for (const el of root.querySelectorAll('[data-i18n-aria-label]')) el.setAttribute('aria-label', t(el.dataset.i18nAriaLabel));
}
