//! The function side: which functions the attribute takes, and the code it writes for them.
//!
//! The generated body builds the pipeline once (a `static OnceLock`), then runs the original
//! body as the attempt: `call(|| async { .. })` for an `async fn`, `call_blocking(|| ..)`
//! otherwise. The original body is wrapped in a closure or an async block whose result is
//! annotated with the declared `Result<T, E>`, so `?` converts into `E` and `return` ends the
//! attempt, both exactly as they did in the undecorated function.

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, format_ident, quote, quote_spanned};
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::visit::Visit;
use syn::visit_mut::VisitMut;
use syn::{GenericArgument, ItemFn, PathArguments, ReturnType, Type};

use crate::args::Args;
use crate::args::HookValue;
use crate::pipeline::{builder, classifies, delay_checks};

/// The attribute's entry point: the expanded function, or the errors followed by the item
/// unchanged (so one mistake does not also break every caller).
pub(crate) fn resilient(attr: TokenStream, item: TokenStream) -> TokenStream {
    let args = Args::parse(attr);
    let function = function(item.clone());
    let expanded = match (args, function) {
        (Ok(args), Ok(function)) => expand(&args, function),
        (Err(mut first), Err(second)) => {
            first.combine(second);
            Err(first)
        }
        (Err(error), _) | (_, Err(error)) => Err(error),
    };
    expanded.unwrap_or_else(|error| {
        let errors = error.to_compile_error();
        quote!(#errors #item)
    })
}

/// The item as a function with a body, or an error saying what the attribute applies to.
fn function(item: TokenStream) -> syn::Result<ItemFn> {
    let error = match syn::parse2::<ItemFn>(item.clone()) {
        Ok(function) => return Ok(function),
        Err(error) => error,
    };
    if let Ok(declaration) = syn::parse2::<syn::TraitItemFn>(item.clone())
        && declaration.default.is_none()
    {
        return Err(syn::Error::new_spanned(
            &declaration.sig,
            "#[resilient] needs the function's body: put it on the method in the impl, not on \
             the trait's declaration",
        ));
    }
    let (what, name) = match syn::parse2::<syn::Item>(item) {
        Ok(syn::Item::Impl(block)) => {
            return Err(syn::Error::new_spanned(
                block.impl_token,
                "#[resilient] applies to functions: put it on each method of the impl block \
                 that should run through a pipeline",
            ));
        }
        Ok(syn::Item::Struct(item)) => ("the struct", Some(item.ident)),
        Ok(syn::Item::Enum(item)) => ("the enum", Some(item.ident)),
        Ok(syn::Item::Union(item)) => ("the union", Some(item.ident)),
        Ok(syn::Item::Trait(item)) => ("the trait", Some(item.ident)),
        Ok(syn::Item::Mod(item)) => ("the module", Some(item.ident)),
        Ok(syn::Item::Const(item)) => ("the const", Some(item.ident)),
        Ok(syn::Item::Static(item)) => ("the static", Some(item.ident)),
        Ok(syn::Item::Type(item)) => ("the type alias", Some(item.ident)),
        Ok(_) => ("this item", None),
        Err(_) => return Err(error),
    };
    let message = |shown: &str| {
        format!("#[resilient] applies to functions that return `Result<T, E>`, not to {shown}")
    };
    Err(match name {
        Some(name) => syn::Error::new_spanned(&name, message(&format!("{what} `{name}`"))),
        None => syn::Error::new(Span::call_site(), message(what)),
    })
}

/// A type as people write it: `io::Result<u8>`, not `io :: Result < u8 >`.
fn shown(ty: &Type) -> String {
    let mut text = ty.to_token_stream().to_string();
    for (spaced, tight) in [
        (" :: ", "::"),
        (":: ", "::"),
        (" < ", "<"),
        (" <", "<"),
        ("< ", "<"),
        (" >", ">"),
        (" ,", ","),
        ("& ", "&"),
    ] {
        text = text.replace(spaced, tight);
    }
    text
}

const NEEDS_RESULT: &str = "#[resilient] needs the function to return `Result<T, E>` spelled \
                            out (as `Result`, `std::result::Result` or `core::result::Result`), \
                            because callers get `Result<T, palisade::Error<E>>`";

/// The `T` and `E` of the declared `Result<T, E>`.
struct Declared<'a> {
    ok: &'a Type,
    err: &'a Type,
    /// The declared type, for spans.
    written: &'a Type,
}

fn declared(function: &ItemFn) -> syn::Result<Declared<'_>> {
    let sig = &function.sig;
    let ReturnType::Type(_, written) = &sig.output else {
        return Err(syn::Error::new_spanned(
            &sig.ident,
            format!("{NEEDS_RESULT}; `{}` returns nothing", sig.ident),
        ));
    };
    let ty = ungroup(written);
    let found =
        || syn::Error::new_spanned(written, format!("{NEEDS_RESULT}; found `{}`", shown(ty)));
    let path = match ty {
        Type::Path(path) if path.qself.is_none() => &path.path,
        Type::ImplTrait(_) => {
            return Err(syn::Error::new_spanned(
                written,
                format!("{NEEDS_RESULT}; an `impl Trait` return type hides the error type"),
            ));
        }
        _ => return Err(found()),
    };
    let names: Vec<String> = path.segments.iter().map(|s| s.ident.to_string()).collect();
    let is_result = match names.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["Result"] => path.leading_colon.is_none(),
        ["std" | "core", "result", "Result"] => true,
        _ => false,
    };
    let plain_prefix = path
        .segments
        .iter()
        .rev()
        .skip(1)
        .all(|s| s.arguments.is_none());
    let last = path.segments.last();
    let arguments: Vec<&GenericArgument> = match last.map(|s| &s.arguments) {
        Some(PathArguments::AngleBracketed(args)) => args.args.iter().collect(),
        _ => Vec::new(),
    };
    let one_type_argument = matches!(arguments[..], [GenericArgument::Type(_)]);
    let named_result = last.is_some_and(|s| s.ident == "Result");
    if named_result && one_type_argument {
        return Err(syn::Error::new_spanned(
            written,
            format!(
                "{NEEDS_RESULT}; `{}` is an alias that hides its error type: write it out, \
                 like `Result<T, anyhow::Error>` or `Result<T, std::io::Error>`",
                shown(ty)
            ),
        ));
    }
    let (true, true, [GenericArgument::Type(ok), GenericArgument::Type(err)]) =
        (is_result, plain_prefix, &arguments[..])
    else {
        return Err(found());
    };
    if let Some(opaque) = impl_trait_in(err) {
        return Err(syn::Error::new_spanned(
            opaque,
            "#[resilient] needs the error type named: `?` in the body converts into it, and \
             `impl Trait` cannot be named there",
        ));
    }
    Ok(Declared { ok, err, written })
}

fn ungroup(ty: &Type) -> &Type {
    match ty {
        Type::Group(group) => ungroup(&group.elem),
        Type::Paren(paren) => ungroup(&paren.elem),
        other => other,
    }
}

/// The first `impl Trait` inside `ty`, if any.
fn impl_trait_in(ty: &Type) -> Option<&syn::TypeImplTrait> {
    struct Find<'a>(Option<&'a syn::TypeImplTrait>);
    impl<'a> Visit<'a> for Find<'a> {
        fn visit_type_impl_trait(&mut self, found: &'a syn::TypeImplTrait) {
            self.0.get_or_insert(found);
        }
    }
    let mut find = Find(None);
    find.visit_type(ty);
    find.0
}

/// `ty` with every `impl Trait` replaced by `_`: a `let` may not name an opaque type, and
/// the attempt's success type is then inferred from the body, as the function's would be.
fn inferable(ty: &Type) -> Type {
    struct Infer;
    impl VisitMut for Infer {
        fn visit_type_mut(&mut self, ty: &mut Type) {
            if let Type::ImplTrait(opaque) = ty {
                let underscore = syn::Token![_](opaque.span());
                *ty = Type::Infer(syn::TypeInfer {
                    underscore_token: underscore,
                });
            } else {
                syn::visit_mut::visit_type_mut(self, ty);
            }
        }
    }
    let mut ty = ty.clone();
    Infer.visit_type_mut(&mut ty);
    ty
}

/// Rejects what cannot run through a pipeline, pointing at the keyword.
fn check_signature(function: &ItemFn) -> syn::Result<()> {
    let sig = &function.sig;
    if let Some(constness) = &sig.constness {
        return Err(syn::Error::new_spanned(
            constness,
            "#[resilient] cannot be used on a `const fn`: the pipeline runs at run time",
        ));
    }
    if let Some(abi) = &sig.abi {
        return Err(syn::Error::new_spanned(
            abi,
            "#[resilient] cannot be used on an `extern` function: it changes the return type to \
             `Result<T, palisade::Error<E>>`, which is not part of a foreign ABI",
        ));
    }
    Ok(())
}

fn expand(args: &Args, mut function: ItemFn) -> syn::Result<TokenStream> {
    check_signature(&function)?;
    let declared = declared(&function)?;
    let ok = declared.ok;
    let err = declared.err;
    // Both types keep the `Result` path as written, so an imported `Result` stays used.
    let attempt_ty = inferable(ungroup(declared.written));
    let output_span = declared.written.span();
    let mut output = ungroup(declared.written).clone();
    if let Type::Path(path) = &mut output
        && let Some(last) = path.path.segments.last_mut()
    {
        last.arguments = PathArguments::AngleBracketed(syn::parse_quote_spanned! {output_span=>
            <#ok, ::palisade::Error<#err>>
        });
    }

    let fn_name = function.sig.ident.unraw().to_string();
    let pipeline = builder(args, &fn_name);
    let delay_checks = delay_checks(args);
    // Local names resolve at the macro's definition site: the body cannot see or shadow them.
    let here = Span::mixed_site();
    let pipeline_var = format_ident!("pipeline", span = here);
    let error_var = format_ident!("error", span = here);
    let attempt_var = format_ident!("attempt", span = here);
    // The `call` is spanned at `E`, so an `E` without `Debug` is reported there.
    let err_span = err.span();
    let body = &function.block;
    let run = if function.sig.asyncness.is_some() {
        let call = format_ident!("call", span = err_span);
        quote! {
            #pipeline_var.#call(|| async {
                let #attempt_var: #attempt_ty = async #body.await;
                #attempt_var
            })
            .await
        }
    } else {
        let call = format_ident!("call_blocking", span = err_span);
        quote! {
            #pipeline_var.#call(|| -> #attempt_ty #body)
        }
    };
    let bug = format!(
        "palisade: the pipeline of #[resilient] fn `{fn_name}` did not build although its \
         arguments were checked at compile time; please report this as a palisade bug: {{}}"
    );
    let hooks = hooks(args, &pipeline_var);
    // A pipeline that retries or has a breaker classifies errors (`E: Classify`).
    let pipeline_ty = if classifies(args) {
        quote!(::palisade::pipeline::Classified)
    } else {
        quote!(::palisade::pipeline::Pipeline)
    };
    let new_body = quote! {{
        static __PALISADE_PIPELINE: ::std::sync::OnceLock<#pipeline_ty> =
            ::std::sync::OnceLock::new();
        #delay_checks
        let #pipeline_var = __PALISADE_PIPELINE.get_or_init(|| match #pipeline.build() {
            ::core::result::Result::Ok(#pipeline_var) => #pipeline_var,
            ::core::result::Result::Err(#error_var) => ::core::unreachable!(#bug, #error_var),
        });
        #hooks
        #run
    }};
    function.sig.output = ReturnType::Type(syn::Token![->](output_span), Box::new(output));
    function.block = Box::new(syn::parse2(new_body)?);
    Ok(function.into_token_stream())
}

/// The classification hooks given as paths, set on a handle to the shared pipeline at each
/// call (the hooks are typed by the function's `E` and `T`, which a `static` cannot name when
/// the function is generic): `retry_if` and `failure_if` replace the class-based hooks, the
/// others wrap them. `retry_exceptions` as a list of classes is no hook: the builder's
/// `retry_on` takes it (see `pipeline::builder`). Nothing when no path hook is given.
fn hooks(args: &Args, pipeline: &syn::Ident) -> TokenStream {
    let paths = || {
        args.hooks
            .iter()
            .filter(|h| matches!(h.value, HookValue::Path))
    };
    let replacing = |method: &str| matches!(method, "retry_if" | "failure_if");
    let ordered = paths()
        .filter(|h| replacing(h.method))
        .chain(paths().filter(|h| !replacing(h.method)));
    let mut chain = TokenStream::new();
    for hook in ordered {
        let method = syn::Ident::new(hook.method, hook.setting.span);
        let path = &hook.setting.tokens;
        chain.extend(quote_spanned!(hook.setting.span=> .#method(#path)));
    }
    if chain.is_empty() {
        return chain;
    }
    quote! {
        let #pipeline = &#pipeline.clone()#chain;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand_str(attr: TokenStream, item: TokenStream) -> String {
        resilient(attr, item).to_string()
    }

    fn error_of(attr: TokenStream, item: TokenStream) -> String {
        let out = expand_str(attr, item);
        assert!(out.contains("compile_error"), "expected an error: {out}");
        out
    }

    #[test]
    fn an_async_fn_runs_its_body_through_call() {
        let out = expand_str(
            quote!(preset = "database", max_attempts = 5, timeout = "250ms"),
            quote!(
                async fn get_user(id: u64) -> Result<User, DbError> {
                    query(id).await
                }
            ),
        );
        assert!(
            out.contains(":: palisade :: presets :: Preset :: Database . pipeline ()"),
            "{out}"
        );
        assert!(out.contains(". name (\"get_user\")"), "{out}");
        assert!(
            out.contains(". timeout (:: std :: time :: Duration :: from_nanos (250000000u64))"),
            "{out}"
        );
        assert!(out.contains(". max_attempts (5u32)"), "{out}");
        assert!(
            out.contains("-> Result < User , :: palisade :: Error < DbError > >"),
            "{out}"
        );
        assert!(out.contains(". call (| | async {"), "{out}");
        assert!(
            out.contains(": Result < User , DbError > = async { query (id) . await } . await"),
            "{out}"
        );
    }

    #[test]
    fn a_sync_fn_runs_its_body_through_call_blocking() {
        let out = expand_str(
            quote!(max_attempts = 2),
            quote!(
                pub fn read(&self) -> std::result::Result<u8, Error> {
                    Ok(1)
                }
            ),
        );
        assert!(
            out.contains(":: palisade :: pipeline :: Pipeline :: builder ()"),
            "{out}"
        );
        assert!(
            out.contains(
                ". call_blocking (| | -> std :: result :: Result < u8 , Error > { Ok (1) })"
            ),
            "{out}"
        );
        assert!(out.starts_with("pub fn read (& self)"), "{out}");
    }

    #[test]
    fn the_name_defaults_to_the_function_and_can_be_set() {
        let out = expand_str(
            quote!(preset = "api"),
            quote!(
                fn r#type() -> Result<(), E> {
                    Ok(())
                }
            ),
        );
        assert!(out.contains(". name (\"type\")"), "{out}");
        let out = expand_str(
            quote!(preset = "api", operation_name = "payments"),
            quote!(
                fn charge() -> Result<(), E> {
                    Ok(())
                }
            ),
        );
        assert!(out.contains(". name (\"payments\")"), "{out}");
    }

    #[test]
    fn impl_trait_in_the_success_type_is_inferred() {
        let out = expand_str(
            quote!(preset = "file"),
            quote!(
                fn lines() -> Result<impl Iterator<Item = u8>, E> {
                    Ok(vec![1].into_iter())
                }
            ),
        );
        assert!(
            out.contains("-> Result < impl Iterator < Item = u8 > , :: palisade :: Error < E > >"),
            "{out}"
        );
        assert!(out.contains("| | -> Result < _ , E >"), "{out}");
    }

    #[test]
    fn return_types_other_than_result_are_refused() {
        let item = |ty: TokenStream| quote!(fn f() -> #ty { todo!() });
        assert!(
            error_of(
                quote!(preset = "api"),
                quote!(
                    fn f() {}
                )
            )
            .contains("returns nothing")
        );
        assert!(
            error_of(quote!(preset = "api"), item(quote!(anyhow::Result<u8>)))
                .contains("alias that hides its error type")
        );
        assert!(
            error_of(quote!(preset = "api"), item(quote!(Result<u8>)))
                .contains("alias that hides its error type")
        );
        assert!(
            error_of(
                quote!(preset = "api"),
                item(quote!(impl Future<Output = u8>))
            )
            .contains("impl Trait")
        );
        assert!(
            error_of(quote!(preset = "api"), item(quote!(Option<u8>)))
                .contains("found `Option<u8>`")
        );
        assert!(
            error_of(quote!(preset = "api"), item(quote!(io::Result<u8, E>))).contains("found")
        );
        assert!(error_of(quote!(preset = "api"), item(quote!(::Result<u8, E>))).contains("found"));
        assert!(
            error_of(quote!(preset = "api"), item(quote!(Result<u8, impl Error>)))
                .contains("error type named")
        );
        for ok in [
            quote!(Result<u8, E>),
            quote!(std::result::Result<u8, E>),
            quote!(::core::result::Result<u8, E>),
            quote!((Result<u8, E>)),
        ] {
            assert!(!expand_str(quote!(preset = "api"), item(ok)).contains("compile_error"));
        }
    }

    #[test]
    fn types_are_shown_as_written() {
        let ty: Type = syn::parse_quote!(std::io::Result<Vec<&'a u8>, E>);
        assert_eq!(shown(&ty), "std::io::Result<Vec<&'a u8>, E>");
        let ty: Type = syn::parse_quote!(Option<u8>);
        assert_eq!(shown(&ty), "Option<u8>");
    }

    #[test]
    fn misuse_is_refused() {
        assert!(
            error_of(
                quote!(preset = "api"),
                quote!(
                    const fn f() -> Result<u8, E> {
                        Ok(1)
                    }
                )
            )
            .contains("`const fn`")
        );
        assert!(
            error_of(
                quote!(preset = "api"),
                quote!(
                    extern "C" fn f() -> Result<u8, E> {
                        Ok(1)
                    }
                )
            )
            .contains("`extern` function")
        );
        assert!(
            error_of(
                quote!(preset = "api"),
                quote!(
                    struct S;
                )
            )
            .contains("not to the struct `S`")
        );
        assert!(error_of(quote!(preset = "api"), quote!(impl S {})).contains("each method"));
        assert!(
            error_of(
                quote!(preset = "api"),
                quote!(
                    fn f(&self) -> Result<u8, E>;
                )
            )
            .contains("function's body")
        );
    }

    #[test]
    fn errors_keep_the_item_so_callers_still_resolve() {
        let out = expand_str(
            quote!(max_attempts = 0),
            quote!(
                fn f() -> Result<u8, E> {
                    Ok(1)
                }
            ),
        );
        assert!(out.contains("compile_error"), "{out}");
        assert!(
            out.ends_with("fn f () -> Result < u8 , E > { Ok (1) }"),
            "{out}"
        );
    }
}
