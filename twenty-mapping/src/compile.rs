//! `compile`: validates a [`MappingFile`] completely and builds a [`CompiledMapping`].

use std::collections::BTreeMap;

use crate::config::{
    CustomFieldConfig, EntityConfig, FieldRule, MappingFile, Owner, Source, TransformSpec,
};
use crate::error::{CompileError, CompileErrors};
use crate::path::FieldPath;
use crate::plan::{CompiledMapping, EntityPlan, FieldPlan, RequiredField};
use crate::schema::{SchemaObject, TwentySchema};
use crate::template::OutputTemplate;
use crate::transform::{Inverse, TransformRegistry, TransformStep};
use crate::types::{
    FieldType, ValueKind, is_known_standard_object, standard_field_type, standard_select_options,
};

/// Default length of value excerpts in field errors.
const DEFAULT_EXCERPT_MAX: usize = 32;

/// Validates `file` against the registry (and the workspace schema when given) and compiles it.
/// Every problem is reported at once, each with its rule path.
///
/// ```
/// use twenty_mapping::{compile, MappingFile, TransformRegistry};
/// let file = MappingFile::from_toml_str(r#"
/// [entities.contacts]
/// twenty_object = "people"
/// local_key = "id"
/// [[entities.contacts.fields]]
/// from = "email"
/// to = "emails.primaryEmail"
/// transforms = ["emial"]
/// [[entities.contacts.fields]]
/// from = "age"
/// to = "name"
/// transforms = ["number"]
/// "#, "bad.toml").unwrap();
/// let errors = compile(&file, &TransformRegistry::with_builtins(), None).unwrap_err();
/// assert_eq!(errors.errors.len(), 2);
/// assert_eq!(errors.errors[0].path, "entities.contacts.fields[0].transforms[0]");
/// assert!(errors.errors[1].message.contains("FULL_NAME"));
/// ```
pub fn compile(
    file: &MappingFile,
    registry: &TransformRegistry,
    schema: Option<&TwentySchema>,
) -> Result<CompiledMapping, CompileErrors> {
    let mut errors = Vec::new();
    if file.version != 1 {
        errors.push(CompileError {
            path: "version".to_owned(),
            message: format!(
                "unsupported mapping file version {}; only 1 exists",
                file.version
            ),
        });
    }
    if file.entities.is_empty() {
        errors.push(CompileError {
            path: "entities".to_owned(),
            message: "the mapping declares no entities".to_owned(),
        });
    }
    let mut entities = BTreeMap::new();
    for (name, config) in &file.entities {
        let mut c = EntityCompiler {
            name,
            base: format!("entities.{name}"),
            config,
            registry,
            schema,
            object: None,
            errors: &mut errors,
        };
        if let Some(plan) = c.compile() {
            entities.insert(name.clone(), plan);
        }
    }
    if errors.is_empty() {
        Ok(CompiledMapping { entities })
    } else {
        Err(CompileErrors { errors })
    }
}

struct EntityCompiler<'a> {
    name: &'a str,
    base: String,
    config: &'a EntityConfig,
    registry: &'a TransformRegistry,
    schema: Option<&'a TwentySchema>,
    object: Option<&'a SchemaObject>,
    errors: &'a mut Vec<CompileError>,
}

/// The resolved type of a target's top-level field.
struct TargetType {
    field_type: FieldType,
    options: Option<Vec<String>>,
}

fn is_camel_case(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_alphanumeric())
        && name.len() <= 63
}

impl<'a> EntityCompiler<'a> {
    fn err(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.errors.push(CompileError {
            path: path.into(),
            message: message.into(),
        });
    }

    fn compile(&mut self) -> Option<EntityPlan> {
        let before = self.errors.len();
        let cfg = self.config;
        if self.name.trim().is_empty() {
            self.err(self.base.clone(), "entity name is empty");
        }
        if cfg.twenty_object.trim().is_empty() {
            self.err(
                format!("{}.twenty_object", self.base),
                "twenty_object is empty",
            );
        }
        if let Some(schema) = self.schema {
            self.object = schema.object(&cfg.twenty_object);
            if self.object.is_none() {
                let known: Vec<&str> = schema
                    .objects
                    .iter()
                    .map(|o| o.name_plural.as_str())
                    .collect();
                self.err(
                    format!("{}.twenty_object", self.base),
                    format!(
                        "Twenty object `{}` is not in the workspace schema (known: {})",
                        cfg.twenty_object,
                        known.join(", ")
                    ),
                );
            }
        }
        let local_key = match FieldPath::parse(&cfg.local_key) {
            Ok(p) => Some(p),
            Err(e) => {
                self.err(format!("{}.local_key", self.base), e);
                None
            }
        };
        if cfg.excerpt_max == Some(0) {
            self.err(
                format!("{}.excerpt_max", self.base),
                "excerpt_max must be at least 1 (use redact_values = true to hide values)",
            );
        }
        let required_fields = self.check_custom_fields();
        let fields: Vec<Option<FieldPlan>> = cfg
            .fields
            .iter()
            .enumerate()
            .map(|(i, rule)| self.compile_rule(i, rule))
            .collect();
        let fields: Vec<FieldPlan> = fields.into_iter().flatten().collect();
        self.check_duplicates();
        let push_allowed = self.allowlist("allow_push", cfg.allow_push.as_deref(), &fields, |f| {
            if f.direction.pushes() {
                vec![&f.twenty]
            } else {
                vec![]
            }
        });
        let pull_allowed = self.allowlist("allow_pull", cfg.allow_pull.as_deref(), &fields, |f| {
            if f.direction.pulls() {
                f.local.iter().collect()
            } else {
                vec![]
            }
        });
        self.check_match_keys(&fields);
        if self.errors.len() != before {
            return None;
        }
        let push_order: Vec<usize> = fields
            .iter()
            .enumerate()
            .filter(|(i, f)| f.direction.pushes() && push_allowed[*i])
            .map(|(i, _)| i)
            .collect();
        let pull_order: Vec<usize> = fields
            .iter()
            .enumerate()
            .filter(|(i, f)| f.direction.pulls() && f.inverse.is_some() && pull_allowed[*i])
            .map(|(i, _)| i)
            .collect();
        let push_template =
            OutputTemplate::new(push_order.iter().map(|&i: &usize| &fields[i].twenty));
        let pull_template = pull_order
            .iter()
            .map(|&i: &usize| match fields[i].local.as_slice() {
                [one] => Some(one),
                _ => None,
            })
            .collect::<Option<Vec<_>>>()
            .and_then(OutputTemplate::new);
        Some(EntityPlan {
            name: self.name.to_owned(),
            twenty_object: cfg.twenty_object.clone(),
            local_key: local_key?,
            match_keys: cfg.match_keys.clone(),
            direction: cfg.direction,
            conflict: cfg.conflict,
            fields,
            push_order,
            pull_order,
            push_template,
            pull_template,
            redact_values: cfg.redact_values,
            excerpt_max: cfg.excerpt_max.unwrap_or(DEFAULT_EXCERPT_MAX),
            required_fields,
        })
    }

    fn check_custom_fields(&mut self) -> Vec<RequiredField> {
        let mut out = Vec::new();
        for (name, decl) in &self.config.custom_fields {
            let path = format!("{}.custom_fields.{name}", self.base);
            self.check_custom_field(&path, name, decl);
            out.push(RequiredField {
                name: name.clone(),
                field_type: decl.field_type.clone(),
                label: decl.label.clone().unwrap_or_else(|| name.clone()),
                options: decl.options.clone(),
                description: decl.description.clone(),
                unique: decl.unique,
            });
        }
        out
    }

    fn check_custom_field(&mut self, path: &str, name: &str, decl: &CustomFieldConfig) {
        if !is_camel_case(name) {
            self.err(
                path,
                format!(
                    "Twenty field names must be camelCase ASCII, at most 63 characters (e.g. `llmContext`), not `{name}`"
                ),
            );
        }
        if standard_field_type(&self.config.twenty_object, name).is_some() {
            self.err(
                path,
                format!(
                    "`{name}` is a standard field of `{}`, not a custom one",
                    self.config.twenty_object
                ),
            );
        }
        let ft = FieldType::parse(&decl.field_type);
        if let FieldType::Other(t) = &ft {
            self.err(
                format!("{path}.type"),
                format!("unknown Twenty field type `{t}` (e.g. TEXT, RAW_JSON, SELECT)"),
            );
        }
        let is_select = matches!(ft, FieldType::Select | FieldType::MultiSelect);
        if is_select && decl.options.is_empty() {
            self.err(
                format!("{path}.options"),
                "SELECT and MULTI_SELECT fields need at least one option",
            );
        }
        if !is_select && !decl.options.is_empty() {
            self.err(
                format!("{path}.options"),
                format!("options are only allowed on SELECT and MULTI_SELECT, not {ft}"),
            );
        }
        for (i, opt) in decl.options.iter().enumerate() {
            if opt.is_empty()
                || !opt
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
            {
                self.err(
                    format!("{path}.options[{i}]"),
                    format!("option value `{opt}` must be UPPER_SNAKE_CASE (A-Z, 0-9, _)"),
                );
            }
            if decl.options[..i].contains(opt) {
                self.err(
                    format!("{path}.options[{i}]"),
                    format!("option `{opt}` is declared twice"),
                );
            }
        }
        if let Some(existing) = self.object.and_then(|o| o.field(name)) {
            if !FieldType::parse(&existing.field_type).is_same_type(&ft) {
                self.err(
                    format!("{path}.type"),
                    format!(
                        "declared as {ft} but the workspace has `{name}` as {}",
                        existing.field_type
                    ),
                );
            }
        }
    }

    fn resolve_target(&self, root: &str) -> Option<TargetType> {
        if let Some(decl) = self.config.custom_fields.get(root) {
            return Some(TargetType {
                field_type: FieldType::parse(&decl.field_type),
                options: Some(decl.options.clone()),
            });
        }
        if let Some(obj) = self.object {
            return obj.field(root).map(|f| TargetType {
                field_type: FieldType::parse(&f.field_type),
                options: (!f.options.is_empty()).then(|| f.options.clone()),
            });
        }
        standard_field_type(&self.config.twenty_object, root).map(|field_type| TargetType {
            field_type,
            options: standard_select_options(&self.config.twenty_object, root)
                .map(|o| o.iter().map(|s| (*s).to_owned()).collect()),
        })
    }

    fn build_pipeline(
        &mut self,
        path: &str,
        specs: &[TransformSpec],
    ) -> Vec<Box<dyn TransformStep>> {
        let mut steps = Vec::with_capacity(specs.len());
        for (j, spec) in specs.iter().enumerate() {
            match self.registry.build(&spec.name, &spec.args) {
                Ok(step) => steps.push(step),
                Err(e) => self.err(format!("{path}[{j}]"), e),
            }
        }
        steps
    }

    fn compile_rule(&mut self, i: usize, rule: &FieldRule) -> Option<FieldPlan> {
        let rp = format!("{}.fields[{i}]", self.base);
        let before = self.errors.len();
        let cfg = self.config;
        let direction = rule.direction.unwrap_or(cfg.direction);
        if (direction.pushes() && !cfg.direction.pushes())
            || (direction.pulls() && !cfg.direction.pulls())
        {
            self.err(
                format!("{rp}.direction"),
                format!(
                    "rule direction {direction:?} is not allowed by the entity direction {:?}",
                    cfg.direction
                ),
            );
        }
        let twenty = FieldPath::parse(&rule.to)
            .map_err(|e| self.err(format!("{rp}.to"), e))
            .ok();
        let local: Vec<FieldPath> = match &rule.from {
            None => Vec::new(),
            Some(Source::One(p)) => FieldPath::parse(p)
                .map_err(|e| self.err(format!("{rp}.from"), e))
                .ok()
                .into_iter()
                .collect(),
            Some(Source::Many(ps)) => {
                if ps.is_empty() {
                    self.err(format!("{rp}.from"), "`from` is an empty list");
                }
                ps.iter()
                    .enumerate()
                    .filter_map(|(j, p)| {
                        FieldPath::parse(p)
                            .map_err(|e| self.err(format!("{rp}.from[{j}]"), e))
                            .ok()
                    })
                    .collect()
            }
        };
        let steps = self.build_pipeline(&format!("{rp}.transforms"), &rule.transforms);
        let produces_value = steps.first().is_some_and(|s| s.handles_null());
        if rule.from.is_none() && rule.default.is_none() && !produces_value {
            self.err(
                &rp,
                if rule.required {
                    "required field has no source: give it `from`, a `default` or a `constant` transform"
                } else {
                    "rule has no source: give it `from`, a `default` or a `constant` transform"
                },
            );
        }
        if let Some(twenty) = &twenty {
            self.check_target(&rp, twenty, &steps);
        }
        let inverse = if direction.pulls() {
            if rule.from.is_none() {
                self.err(&rp, "a rule that pulls needs a `from` local path to write to (or set direction = \"push\")");
            }
            match &rule.inverse {
                Some(specs) => Some(self.build_pipeline(&format!("{rp}.inverse"), specs)),
                None => {
                    let mut inv = Vec::new();
                    for (j, step) in steps.iter().enumerate().rev() {
                        match step.inverse() {
                            Inverse::Identity => {}
                            Inverse::Step(s) => inv.push(s),
                            Inverse::OneWay => self.err(
                                format!("{rp}.transforms[{j}]"),
                                format!(
                                    "transform `{}` is one-way but the rule also pulls: declare `inverse = [...]` or set direction = \"push\"",
                                    rule.transforms[j].name
                                ),
                            ),
                        }
                    }
                    Some(inv)
                }
            }
        } else {
            if rule.inverse.is_some() {
                self.err(
                    format!("{rp}.inverse"),
                    "`inverse` is only used by rules that pull",
                );
            }
            None
        };
        if self.errors.len() != before {
            return None;
        }
        Some(FieldPlan {
            index: i,
            rule_path: rp,
            local,
            twenty: twenty?,
            steps,
            inverse,
            default: rule.default.clone(),
            required: rule.required,
            owner: rule.owner.unwrap_or(Owner::Both),
            conflict: rule.conflict,
            direction,
            local_hint: Default::default(),
            twenty_hint: Default::default(),
        })
    }

    fn check_target(&mut self, rp: &str, twenty: &FieldPath, steps: &[Box<dyn TransformStep>]) {
        let Some(root) = twenty.root() else {
            self.err(
                format!("{rp}.to"),
                "the Twenty path must start with a field name",
            );
            return;
        };
        let Some(target) = self.resolve_target(root) else {
            if self.object.is_some() {
                self.err(
                    format!("{rp}.to"),
                    format!(
                        "field `{root}` does not exist on `{}` in the workspace schema; declare it under `custom_fields` so setup creates it",
                        self.config.twenty_object
                    ),
                );
            } else if is_known_standard_object(&self.config.twenty_object) && !is_camel_case(root) {
                self.err(
                    format!("{rp}.to"),
                    format!("`{root}` is not a valid Twenty field name (camelCase)"),
                );
            }
            return;
        };
        let kind = steps.last().map_or(ValueKind::Any, |s| s.output_kind());
        match twenty.sub_path() {
            Some(sub) => match target.field_type.sub_field_kind(sub) {
                None => self.err(
                    format!("{rp}.to"),
                    format!(
                        "{} field `{root}` has no sub-field `{sub}`",
                        target.field_type
                    ),
                ),
                Some(expected) if !kind.fits(expected) => self.err(
                    format!("{rp}.transforms"),
                    format!("the pipeline produces {kind} but `{twenty}` holds {expected}"),
                ),
                Some(_) => {}
            },
            None => {
                if !target.field_type.accepts(kind) {
                    self.err(
                        format!("{rp}.transforms"),
                        format!(
                            "the pipeline produces {kind} but `{twenty}` is a {} field",
                            target.field_type
                        ),
                    );
                }
                let is_select = matches!(
                    target.field_type,
                    FieldType::Select | FieldType::MultiSelect
                );
                if let (true, Some(options), Some(values)) = (
                    is_select,
                    &target.options,
                    steps.last().and_then(|s| s.output_values()),
                ) {
                    for v in values.iter().filter(|v| !options.contains(v)) {
                        self.err(
                            format!("{rp}.transforms[{}]", steps.len() - 1),
                            format!(
                                "`{v}` is not an option of `{twenty}` (options: {})",
                                options.join(", ")
                            ),
                        );
                    }
                }
            }
        }
    }

    /// Reports rules whose targets overlap (push) or whose local paths overlap (pull). Works on
    /// the raw rules so a duplicate is reported even when the rule has other problems.
    fn check_duplicates(&mut self) {
        struct Paths {
            rule: String,
            direction: crate::config::Direction,
            twenty: Option<FieldPath>,
            local: Vec<FieldPath>,
        }
        let cfg = self.config;
        let rules: Vec<Paths> = cfg
            .fields
            .iter()
            .enumerate()
            .map(|(i, r)| Paths {
                rule: format!("{}.fields[{i}]", self.base),
                direction: r.direction.unwrap_or(cfg.direction),
                twenty: FieldPath::parse(&r.to).ok(),
                local: match &r.from {
                    None => Vec::new(),
                    Some(Source::One(p)) => FieldPath::parse(p).ok().into_iter().collect(),
                    Some(Source::Many(ps)) => {
                        ps.iter().filter_map(|p| FieldPath::parse(p).ok()).collect()
                    }
                },
            })
            .collect();
        for (a_i, a) in rules.iter().enumerate() {
            for b in &rules[..a_i] {
                if let (true, true, Some(ta), Some(tb)) = (
                    a.direction.pushes(),
                    b.direction.pushes(),
                    &a.twenty,
                    &b.twenty,
                ) {
                    if ta.overlaps(tb) {
                        self.err(
                            format!("{}.to", a.rule),
                            format!("target `{ta}` overlaps target `{tb}` of {}", b.rule),
                        );
                    }
                }
                if a.direction.pulls() && b.direction.pulls() {
                    for pa in &a.local {
                        if let Some(pb) = b.local.iter().find(|pb| pa.overlaps(pb)) {
                            self.err(
                                format!("{}.from", a.rule),
                                format!(
                                    "local path `{pa}` is also written on pull by {} (`{pb}`)",
                                    b.rule
                                ),
                            );
                        }
                    }
                }
            }
        }
    }

    /// Parses an allowlist, reports entries matching no rule, and returns per-rule permission.
    fn allowlist<'f>(
        &mut self,
        key: &str,
        list: Option<&[String]>,
        fields: &'f [FieldPlan],
        paths_of: impl Fn(&'f FieldPlan) -> Vec<&'f FieldPath>,
    ) -> Vec<bool> {
        let Some(list) = list else {
            return vec![true; fields.len()];
        };
        let mut entries = Vec::with_capacity(list.len());
        for (j, text) in list.iter().enumerate() {
            match FieldPath::parse(text) {
                Ok(p) => {
                    let used = fields
                        .iter()
                        .any(|f| paths_of(f).iter().any(|t| p.overlaps(t)));
                    if !used {
                        self.err(
                            format!("{}.{key}[{j}]", self.base),
                            format!("`{text}` matches no rule of this entity"),
                        );
                    }
                    entries.push(p);
                }
                Err(e) => self.err(format!("{}.{key}[{j}]", self.base), e),
            }
        }
        fields
            .iter()
            .map(|f| {
                let paths = paths_of(f);
                !paths.is_empty() && paths.iter().all(|t| entries.iter().any(|e| e.covers(t)))
            })
            .collect()
    }

    fn check_match_keys(&mut self, fields: &[FieldPlan]) {
        for (j, key) in self.config.match_keys.iter().enumerate() {
            let path = format!("{}.match_keys[{j}]", self.base);
            let parsed = match FieldPath::parse(key) {
                Ok(p) => p,
                Err(e) => {
                    self.err(path, e);
                    continue;
                }
            };
            let written = fields.iter().any(|f| f.twenty.covers(&parsed));
            if self.config.direction.pushes() && !written {
                self.err(
                    path,
                    format!(
                        "match key `{key}` is not written by any rule, so records cannot be matched"
                    ),
                );
            } else if let (Some(obj), Some(root)) = (self.object, parsed.root()) {
                if obj.field(root).is_none() && !self.config.custom_fields.contains_key(root) {
                    self.err(
                        path,
                        format!("match key field `{root}` is not in the workspace schema"),
                    );
                }
            }
        }
    }
}
