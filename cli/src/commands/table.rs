//! Docker's tables: columns as wide as their widest cell plus three spaces
//! (Go's tabwriter with Docker's settings), never narrower than the minimum
//! width; the last column is not padded.

/// Renders `rows` (the header first) with cells padded to `min_width`, plus padding 3.
pub fn render(rows: &[Vec<String>], min_width: usize) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|cell| display_width(cell) + 3)
                .max()
                .unwrap_or(0)
                .max(min_width)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            line.push_str(cell);
            if c + 1 < row.len() {
                let pad = widths[c].saturating_sub(display_width(cell));
                line.push_str(&" ".repeat(pad));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// `--format 'table TEMPLATE'`: a header row (each field's title from
/// `headers`) and one row per value, cells split at the template's tabs.
pub fn render_template(
    template: &str,
    headers: &[(&str, &str)],
    rows: &[serde_json::Value],
) -> anyhow::Result<String> {
    let titles: serde_json::Map<String, serde_json::Value> = headers
        .iter()
        .map(|(field, title)| (field.to_string(), serde_json::Value::from(*title)))
        .collect();
    let mut table = vec![split_cells(&super::ps::render(
        template,
        &serde_json::Value::Object(titles),
    )?)];
    for row in rows {
        table.push(split_cells(&super::ps::render(template, row)?));
    }
    Ok(render(&table, 10))
}

fn split_cells(line: &str) -> Vec<String> {
    line.split('\t').map(String::from).collect()
}

/// Every character counts one column (no table of wide characters).
fn display_width(text: &str) -> usize {
    text.chars().count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_fit_their_widest_cell_plus_three() {
        let rows = vec![
            vec!["ID".to_string(), "STATUS".into(), "NAMES".into()],
            vec![
                "abc".to_string(),
                "Up Less than a second".into(),
                "web".into(),
            ],
        ];
        let text = render(&rows, 10);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], format!("ID        STATUS{}NAMES", " ".repeat(18)));
        assert_eq!(lines[1], "abc       Up Less than a second   web");
    }

    #[test]
    fn table_templates_get_titles() {
        let rows = vec![serde_json::json!({"ID": "abc", "Names": "web"})];
        let text = render_template(
            "{{.ID}}\\t{{.Names}}",
            &[("ID", "CONTAINER ID"), ("Names", "NAMES")],
            &rows,
        )
        .unwrap();
        assert_eq!(text, "CONTAINER ID   NAMES\nabc            web\n");
    }
}
