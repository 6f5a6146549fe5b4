// SPDX-License-Identifier: GPL-2.0
/*
 * pvdma_bench: maps and unmaps buffers through a pvdma-managed function's dma_map_ops
 * from several kernel threads at once and times it (include/pvdma_bench.h says how it
 * is driven). Bind it to a managed function that no other driver holds (or, with
 * direct=1, to any function, for the kernel's own direct mapping):
 *
 *   echo pvdma_bench > /sys/bus/pci/devices/BDF/driver_override
 *   echo BDF > /sys/bus/pci/drivers_probe
 */
#include <linux/completion.h>
#include <linux/debugfs.h>
#include <linux/dma-map-ops.h>
#include <linux/dma-mapping.h>
#include <linux/kthread.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/pci.h>
#include <linux/uaccess.h>
#include "pvdma_bench.h"

struct bench_thread {
	struct device *dev;
	const struct pvdma_bench_run *run;
	struct page *pages;
	struct completion *start;
	struct completion done;
	unsigned int index;
	u64 t0, t1, errors;
};

static bool direct;
module_param(direct, bool, 0444);
MODULE_PARM_DESC(direct, "also bind a function without dma_map_ops: the kernel's direct mapping, the DMA API's floor");

static struct pci_dev *bench_pdev;	/* the function bound to us, or NULL */
static DEFINE_MUTEX(bench_lock);	/* one run at a time; protects bench_pdev */
static struct dentry *bench_file;

static int bench_thread_fn(void *data)
{
	struct bench_thread *t = data;
	const struct pvdma_bench_run *r = t->run;
	void *buf = page_address(t->pages);
	dma_addr_t hold = DMA_MAPPING_ERROR, a;
	u32 i;

	if (r->flags & PVDMA_BENCH_HOLD && !(t->index == 0 && r->flags & PVDMA_BENCH_MISS_ONE)) {
		hold = dma_map_single(t->dev, buf, r->size, r->dir);
		if (dma_mapping_error(t->dev, hold))
			t->errors++;
	}
	wait_for_completion(t->start);
	t->t0 = ktime_get_ns();
	for (i = 0; i < r->ops; i++) {
		a = dma_map_single(t->dev, buf, r->size, r->dir);
		if (dma_mapping_error(t->dev, a)) {
			t->errors++;
			continue;
		}
		dma_unmap_single(t->dev, a, r->size, r->dir);
	}
	t->t1 = ktime_get_ns();
	if (!dma_mapping_error(t->dev, hold))
		dma_unmap_single(t->dev, hold, r->size, r->dir);
	complete(&t->done);
	return 0;
}

static int bench_run(struct device *dev, struct pvdma_bench_run *r)
{
	struct bench_thread *t;
	DECLARE_COMPLETION_ONSTACK(start);
	u64 first = U64_MAX, last = 0;
	unsigned int i, started = 0;
	int ret = 0;

	if (!r->threads || r->threads > PVDMA_BENCH_MAX_THREADS || !r->size ||
	    r->size > PVDMA_BENCH_MAX_SIZE || !r->ops || r->reserved || r->flags & ~(PVDMA_BENCH_HOLD | PVDMA_BENCH_MISS_ONE) ||
	    (r->dir != DMA_TO_DEVICE && r->dir != DMA_FROM_DEVICE && r->dir != DMA_BIDIRECTIONAL))
		return -EINVAL;
	t = kcalloc(r->threads, sizeof(*t), GFP_KERNEL);
	if (!t)
		return -ENOMEM;
	for (i = 0; i < r->threads; i++) {
		struct task_struct *k;

		t[i].pages = alloc_pages(GFP_KERNEL, get_order(r->size));
		if (!t[i].pages) {
			ret = -ENOMEM;
			break;
		}
		t[i].dev = dev;
		t[i].index = i;
		t[i].run = r;
		t[i].start = &start;
		init_completion(&t[i].done);
		k = kthread_create(bench_thread_fn, &t[i], "pvdma_bench/%u", i);
		if (IS_ERR(k)) {
			ret = PTR_ERR(k);
			__free_pages(t[i].pages, get_order(r->size));
			break;
		}
		/* One thread per CPU while there are CPUs: contention is what is measured. */
		kthread_bind(k, i % num_online_cpus());
		wake_up_process(k);
		started++;
	}
	/* Threads already made run to their end either way; a failed run reports none. */
	complete_all(&start);
	for (i = 0; i < started; i++) {
		wait_for_completion(&t[i].done);
		first = min(first, t[i].t0);
		last = max(last, t[i].t1);
		r->thread_ns[i] = t[i].t1 - t[i].t0;
		r->errors += t[i].errors;
		__free_pages(t[i].pages, get_order(r->size));
	}
	r->wall_ns = started ? last - first : 0;
	kfree(t);
	return ret;
}

static long bench_ioctl(struct file *f, unsigned int cmd, unsigned long arg)
{
	struct pvdma_bench_run r;
	int ret;

	if (cmd != PVDMA_BENCH_RUN)
		return -ENOTTY;
	if (copy_from_user(&r, (void __user *)arg, sizeof(r)))
		return -EFAULT;
	r.wall_ns = r.errors = 0;
	memset(r.thread_ns, 0, sizeof(r.thread_ns));
	mutex_lock(&bench_lock);
	ret = bench_pdev ? bench_run(&bench_pdev->dev, &r) : -ENODEV;
	mutex_unlock(&bench_lock);
	if (!ret && copy_to_user((void __user *)arg, &r, sizeof(r)))
		ret = -EFAULT;
	return ret;
}

static const struct file_operations bench_fops = {
	.owner = THIS_MODULE,
	.unlocked_ioctl = bench_ioctl,
};

static int bench_probe(struct pci_dev *pdev, const struct pci_device_id *id)
{
	int ret;

	mutex_lock(&bench_lock);
	ret = bench_pdev ? -EBUSY : 0;
	if (!ret)
		bench_pdev = pdev;
	mutex_unlock(&bench_lock);
	if (ret)
		return ret;
	/* pvdma installs its ops before a driver binds; without them nothing is measured. */
	ret = -ENODEV;
	if (!get_dma_ops(&pdev->dev) && !direct) {
		dev_err(&pdev->dev, "pvdma_bench: not a function pvdma manages (direct=1 measures it)\n");
		goto unset;
	}
	ret = dma_set_mask_and_coherent(&pdev->dev, DMA_BIT_MASK(64));
	if (ret)
		goto unset;
	pci_set_master(pdev);
	bench_file = debugfs_create_file("pvdma_bench", 0600, NULL, NULL, &bench_fops);
	dev_info(&pdev->dev, "pvdma_bench: ready\n");
	return 0;
unset:
	mutex_lock(&bench_lock);
	bench_pdev = NULL;
	mutex_unlock(&bench_lock);
	return ret;
}

static void bench_remove(struct pci_dev *pdev)
{
	debugfs_remove(bench_file);
	mutex_lock(&bench_lock);
	bench_pdev = NULL;
	mutex_unlock(&bench_lock);
}

static struct pci_driver bench_driver = {
	.name = "pvdma_bench",
	.probe = bench_probe,
	.remove = bench_remove,
};
module_pci_driver(bench_driver);

MODULE_DESCRIPTION("pvdma guest DMA map/unmap microbenchmark");
MODULE_LICENSE("GPL");
